"""Package archives (PyPI downloads read in place), the SAE training corpus and the demo data.
"""
