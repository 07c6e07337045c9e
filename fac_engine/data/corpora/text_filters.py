"""Line filters and chunking for the training corpus: keep English prose, drop code, tables and numbers.

Package data mixes prose with code blocks (ShareGPT answers), tables and figures (benchmarks),
other languages (WritingBench, BIG-bench) and markup. The SAE should spend its latents on the
language users write, so each line is judged on its own and only kept lines stay.
"""

import re
from collections import Counter
from collections.abc import Iterator
from typing import Literal, NamedTuple

LineVerdict = Literal["kept", "no_letters", "non_english", "code", "digits"]
"""Why a line is kept or dropped."""

_FUNCTION_WORDS = """
the a an of and to in is it that for you was with on as have be at this are not but from or by they we his her
she he which their there what all were when your can said if will would about my me been has had do one more
who them out up into than then its our could some any these only also how just should very where why because
does did while after before other those i it's i'm don't can't you're there's what's he's she's that's isn't
"""
ENGLISH_WORDS: frozenset[str] = frozenset(_FUNCTION_WORDS.split())
"""Common English function words."""

_FOREIGN_WORDS = """
de la le les et des du une est dans pour que qui pas sur au aux der das und ist nicht ein eine zu mit von sich
auf el los las y en del con por una para es het een van niet il di che per sono della non da em os uma não dos
się nie jest że
"""
FOREIGN_WORDS: frozenset[str] = frozenset(_FOREIGN_WORDS.split()) - ENGLISH_WORDS
"""Common function words of the other languages in the package data (French, German, Spanish, Dutch,
Italian, Portuguese, Polish), minus those English shares."""

LANGUAGE_CHECK_MIN_WORDS = 6
"""Lines with fewer words are not checked for language (too few to tell)."""
NO_FUNCTION_WORDS_MIN = 12
"""A line of at least this many words with no English function word is not English prose (lists, names)."""
MAX_NON_ASCII_LETTERS = 0.15
"""Share of a line's letters that may be non-ASCII (names with accents pass, other scripts do not)."""
MAX_CODE_CHARS = 0.08
"""Share of non-space characters that may be code punctuation ({}[]<>=;|`~^_#$ and backslash), on lines
of at least CODE_RATIO_MIN_CHARS such characters in all (a short chat line with one `>` is not code)."""
CODE_RATIO_MIN_CHARS = 20
MAX_DIGIT_SHARE = 0.35
"""Share of letters and digits that may be digits (tables, scores and figures are dropped)."""

_CODE_CHARS = frozenset("{}[]<>=;\\|`~^_#$")
_CODE_START = re.compile(
    r"^\s*(?:def \w+\(|class \w+[(:]|import [\w.]+\s*$|import [\w.]+ as |from [\w.]+ import |#include|#define|"
    r"(?:public|private|protected|static) [\w<>\[\]]+ \w+\s*[(=;]|function\s*\w*\s*\(|(?:var|let|const) \w+\s*=|"
    r"elif .*:$|(?:try|else|finally):$|except(?: \w+)?:$|catch\s*\(|\$ \w|>>> |SELECT .* FROM|INSERT INTO|"
    r"CREATE TABLE|@\w+\(|//|/\*|\*/|return .*;$)")
_CODE_TOKENS = re.compile(r"\(\)|=>|==|!=|&&|\|\||::|->|\w\.\w+\(|\w_\w+\(|</?[a-z]+[ >]")
_MARKDOWN = re.compile(r"^\s*(?:#{1,6}\s+|>\s+|[-*+]\s+)|\*\*|__")
_URL = re.compile(r"https?://\S+|\bwww\.\w\S*")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def line_verdict(line: str) -> LineVerdict:
    """Whether one line is English prose worth keeping, and if not why (markdown headings, bullets and
    bold markers are not held against it)."""
    text = _MARKDOWN.sub("", line).strip()
    letters = sum(ch.isalpha() for ch in text)
    if letters == 0:
        return "no_letters"
    non_ascii = sum(ch.isalpha() and not ch.isascii() for ch in text)
    if non_ascii / letters > MAX_NON_ASCII_LETTERS:
        return "non_english"
    table_row = text.startswith("|") and text.endswith("|")
    if table_row or _CODE_START.match(text) or _CODE_TOKENS.search(text) or text.endswith(("{", "}")):
        return "code"
    printable = text.replace(" ", "")
    if len(printable) >= CODE_RATIO_MIN_CHARS and \
            sum(ch in _CODE_CHARS for ch in printable) > MAX_CODE_CHARS * len(printable):
        return "code"
    if sum(len(m) for m in _URL.findall(text)) * 2 >= len(text):
        return "code"
    digits = sum(ch.isdigit() for ch in text)
    if digits / (letters + digits) > MAX_DIGIT_SHARE:
        return "digits"
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) >= LANGUAGE_CHECK_MIN_WORDS:
        english = sum(w in ENGLISH_WORDS for w in words)
        foreign = sum(w in FOREIGN_WORDS for w in words)
        if (foreign >= 2 and foreign > english) or (english == 0 and len(words) >= NO_FUNCTION_WORDS_MIN):
            return "non_english"
    return "kept"


class Cleaned(NamedTuple):
    """A text with its bad lines removed."""

    text: str
    """The kept lines, joined by newlines ("" when none is left)."""
    dropped: Counter[str]
    """Dropped lines per verdict (and `code` for lines inside ``` fences)."""


def clean_text(text: str) -> Cleaned:
    """Keep the lines judged `kept` (blank lines between them collapse); drop fenced code blocks."""
    kept: list[str] = []
    dropped: Counter[str] = Counter()
    fenced = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if line.lstrip().startswith("```"):
            fenced = not fenced
            dropped["code"] += 1
            continue
        if fenced:
            dropped["code"] += 1
            continue
        if not line.strip():
            continue
        verdict = line_verdict(line)
        if verdict == "kept":
            kept.append(line.strip())
        else:
            dropped[verdict] += 1
    return Cleaned("\n".join(kept), dropped)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _pack(parts: list[str], sep: str, max_chars: int) -> Iterator[str]:
    """Join consecutive parts with `sep` into pieces of at most `max_chars` (a longer part stays whole)."""
    current = ""
    for part in parts:
        joined = f"{current}{sep}{part}" if current else part
        if len(joined) <= max_chars or not current:
            current = joined
        else:
            yield current
            current = part
    if current:
        yield current


def split_chunks(text: str, max_chars: int) -> list[str]:
    """`text` cut into chunks of at most `max_chars` at line, then sentence, then word boundaries.

    The harvest truncates texts at a token limit; chunking first keeps every token of a long
    text in the corpus instead of its first few hundred.
    """
    if len(text) <= max_chars:
        return [text]
    units: list[str] = []
    for line in text.split("\n"):
        if len(line) <= max_chars:
            units.append(line)
            continue
        pieces: list[str] = []
        for sentence in _SENTENCE_END.split(line):
            pieces.extend([sentence] if len(sentence) <= max_chars else _pack(sentence.split(" "), " ", max_chars))
        units.extend(_pack(pieces, " ", max_chars))
    chunks = _pack(units, "\n", max_chars)
    # A single word longer than max_chars (a URL, a hash) is cut hard.
    return [chunk[i : i + max_chars] for chunk in chunks for i in range(0, len(chunk), max_chars)]
