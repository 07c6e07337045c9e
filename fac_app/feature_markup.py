"""Untrusted text (dataset samples, labels, explanations, tokens) made safe for Streamlit markdown,
and feature ids typed by the user.

`highlight_tokens` (fac_app/tokens.py) is the only HTML the feature pages render; everything else
goes through `escape_markdown`, so `<script>`, markdown links and images, LaTeX (`$`) and
Streamlit's `:color[...]` directives in a sample show as the characters they are.
"""

from collections.abc import Sequence

from fac_app.tokens import highlight_tokens

_MD_PUNCTUATION = set("\\`*_{}[]()#+-.!|~:$=^\"'")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def escape_markdown(text: str) -> str:
    """Text that Streamlit's markdown renders literally (line breaks kept as hard breaks)."""
    out = []
    for ch in str(text):
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _MD_PUNCTUATION:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("  \n")
        elif ch == "\r":
            continue
        else:
            out.append(ch)
    return "".join(out)


def visible_token(token: str) -> str:
    """A token with its leading space and line breaks made visible (for tables of tokens)."""
    shown = "\u2423" + token[1:] if token.startswith(" ") else token
    return shown.replace("\n", "\u21b5")


def token_html(tokens: Sequence[str], values: Sequence[float], content_start: int, *, with_prefix: bool,
               scale: float | None) -> str:
    """Highlighted tokens of one sample, from t0 on unless the template prefix is asked for."""
    start = 0 if with_prefix else min(max(content_start, 0), len(tokens))
    return highlight_tokens(tokens[start:], values[start:], scale=scale)
