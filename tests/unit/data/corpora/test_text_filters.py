"""Line verdicts (English prose kept; code, tables, numbers and other languages dropped) and chunking."""

import pytest

from fac_engine.data.corpora.text_filters import clean_text, line_verdict, split_chunks


@pytest.mark.parametrize(("line", "verdict"), [
    ("Really, a good portion revolved around dating.", "kept"),
    ("Sounds like he's an awesome guy.", "kept"),
    ("### **2. Building Green Industrial Parks**", "kept"),  # markdown markers are not code
    ("violate any applicable laws or regulations;", "kept"),
    ("except their rocks are so gritty it hurts", "kept"),
    ("anyone home>", "kept"),  # one `>` in a short chat line
    ("Ewwwwwwww...", "kept"),
    ("Okay", "kept"),
    ("???", "no_letters"),
    ("| --- | --- |", "no_letters"),
    ("2015 1,204 3.5%", "no_letters"),
    ("def tokenize(text):", "code"),
    ("    return lazy += getAI() }", "code"),
    ("const value = compute(x);", "code"),
    ("if os.path.exists('token.json'):", "code"),
    ("| Barcelona | Be Blown Away by Barcelona |", "code"),
    ("https://youtube.com/watch?v=QMVQ_htobAg", "code"),
    ("Contact Number: +1-555-345-6789", "digits"),
    ("Q1 2024 17,027 19,300", "digits"),
    ("Servir el salmón con la quinoa y los vegetales.", "non_english"),
    ("Der Hund ist nicht in dem Haus und die Katze auch nicht.", "non_english"),
    ("请在内容中体现出上述要求。", "non_english"),
    ("qahepi qe dihuyawi zaqeyawi jiquvi qe gavodewi zaqedewi seniho vo qahevi cu", "non_english"),
])
def test_line_verdicts(line: str, verdict: str) -> None:
    assert line_verdict(line) == verdict


def test_clean_text_keeps_prose_and_drops_fenced_code() -> None:
    text = "Here is the fix:\n\n```python\nx = 1\nprint(x)\n```\nIt prints one.\n| a | b |\n  \nThanks!  "
    cleaned = clean_text(text)
    assert cleaned.text == "Here is the fix:\nIt prints one.\nThanks!"
    assert cleaned.dropped == {"code": 5}  # two fences, two fenced lines and the table row


def test_clean_text_of_nothing() -> None:
    assert clean_text("").text == "" and clean_text("\n  \n???").text == ""


def test_split_chunks_at_lines_then_sentences_then_words() -> None:
    assert split_chunks("short text", 50) == ["short text"]
    text = "First line here.\nSecond line here.\nThird line is here."
    assert split_chunks(text, 40) == ["First line here.\nSecond line here.", "Third line is here."]
    long_line = "One sentence is here. Another sentence follows it. A third one ends."
    assert split_chunks(long_line, 50) == ["One sentence is here. Another sentence follows it.", "A third one ends."]
    words = "word " * 30
    assert all(len(c) <= 52 for c in split_chunks(words.strip(), 52))
    assert " ".join(split_chunks(words.strip(), 52)) == words.strip()
    assert split_chunks("x" * 120, 50) == ["x" * 50, "x" * 50, "x" * 20]  # one unbreakable word
