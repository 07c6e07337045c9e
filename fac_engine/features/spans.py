"""Short text views of where a feature fires: the marked span around the strongest token, its key phrase.

Used by the prompts (explanations, synthesis) and the review queue. Tokens are joined the way the
vocabulary needs: byte-level BPE tokens carry their leading space, word-level and SentencePiece
tokens do not (see `token_separator`).
"""

import re
from collections.abc import Sequence

import numpy as np

PEAK_OPEN, PEAK_CLOSE = "<<", ">>"
SPAN_RADIUS = 6
"""Tokens kept either side of the max token in a marked span."""
PHRASE_RADIUS = 2
"""Tokens kept either side of the max token in a key phrase."""
_SPECIAL = re.compile(r"<\|[^|]*\|>|</?s>")


def token_separator(vocab: Sequence[str]) -> str:
    """"" for byte-level BPE vocabularies (tokens carry their leading space), " " for the others
    (SentencePiece and word-level tokens decode without it, and would run together)."""
    return "" if any(t.startswith(" ") for t in vocab[:50_000]) else " "


def mark_span(tokens: Sequence[str], activations: Sequence[float], sep: str = "", radius: int = SPAN_RADIUS) -> str:
    """The tokens around the strongest activation, the max token wrapped in <<...>> ("" when none fires)."""
    if not activations or max(activations) <= 0:
        return ""
    peak = int(np.argmax(activations))
    lo, hi = max(0, peak - radius), min(len(tokens), peak + radius + 1)
    parts = [f"{PEAK_OPEN}{t}{PEAK_CLOSE}" if i == peak else t for i, t in enumerate(tokens[lo:hi], lo)
             if i == peak or not _SPECIAL.fullmatch(t.strip())]
    return " ".join(sep.join(parts).split())


def peak_phrase(tokens: Sequence[str], activations: Sequence[float], sep: str = "", radius: int = PHRASE_RADIUS
                ) -> str:
    """The few tokens around the strongest activation, as plain text (special tokens dropped)."""
    if not activations or max(activations) <= 0:
        return ""
    peak = int(np.argmax(activations))
    words = [t for t in tokens[max(0, peak - radius) : peak + radius + 1] if not _SPECIAL.fullmatch(t.strip())]
    return " ".join(sep.join(words).split())
