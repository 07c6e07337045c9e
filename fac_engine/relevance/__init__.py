"""Which features matter for a task: label contrast (exact test, false-discovery cut) and the LLM judge.
"""
