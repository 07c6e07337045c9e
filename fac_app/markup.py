"""The one way the app shows text it did not write itself: dataset samples and labels, tokens, model
output, explanations, names people typed, file paths, URL parameters.

Streamlit renders markdown (links, images, emphasis, KaTeX `$...$`, `:color[...]` directives) in
st.markdown, st.caption, alerts, toasts, headers, metric labels and values, radio options, and every
widget label and help text. Such text goes into those only through this module: `escape_markdown`
for free text (samples, explanations, model output: every markdown character escaped, line breaks
kept), `escape_inline` for one-line names and messages (only what can start markdown inside a line
is escaped, so `my-data` or `'99' is out of range: ...` read the same in the source), `quoted` for
values echoed back, `inline_code` for paths and commands. Otherwise it is shown where nothing is
interpreted: st.text, st.code, st.json, selectbox options and dataframe cells. `highlight_tokens` is
the only HTML the app renders, and it escapes every token.
"""

import html
import re
from collections.abc import Sequence

HIGHLIGHT_RGB = (255, 140, 0)
SHOWN_CHARS = 60
"""Longest text from a URL quoted back in a message (a link can carry anything)."""
_MD_PUNCTUATION = set("\\`*_{}[]()#+-.!|~:$=^\"'")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_INLINE_ALWAYS = set("\\`*_{}[]()#+!|~$^@")
"""Characters that open or close markdown wherever they stand in a line (emphasis, code, links, images, math,
tables, footnotes, e-mail autolinks)."""
_AUTOLINKS = re.compile(r"(?:(?<=https:)|(?<=http:))(?=//[-\w]+\.[-\w])|(?<=www)(?=\.[-\w])|(?<=@)(?=[-\w]+\.[-\w])",
                        re.IGNORECASE)
"""Where GitHub-flavoured markdown would turn bare text into a link (`https://a.b`, `www.a`, `x@a.b`). Streamlit finds
those in the text after escapes are resolved, so a backslash does not stop them; an invisible word joiner does."""
WORD_JOINER = "\u2060"
_INLINE_CONTEXT = re.compile(r":(?=[/A-Za-z])|(?<=www)\.|^\s*[-=]|^(\s*\d+)([.)])", re.IGNORECASE)
"""Characters that open markdown only where they stand: a URL scheme (`https:` before `//`), a directive, icon or
emoji (`:red[`, `:material/...:`), `www.` autolinks, and a line that starts as a list or a heading rule."""


def _unlinked(text: object) -> str:
    return _AUTOLINKS.sub(WORD_JOINER, str(text))


def escape_markdown(text: object) -> str:
    """Text that Streamlit's markdown renders literally (line breaks kept as hard breaks)."""
    out = []
    for ch in _unlinked(text):
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


def escape_inline(text: object) -> str:
    """One line of text (line breaks become spaces) that markdown renders literally, escaping no more than needed."""
    line = " ".join(_unlinked(text).split())
    out = []
    for ch in line:
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _INLINE_ALWAYS:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return _INLINE_CONTEXT.sub(_escape_match, "".join(out))


def _escape_match(match: re.Match[str]) -> str:
    if match.group(1) is not None:  # "12." or "3)" opening the line: an ordered list
        return match.group(1) + "\\" + match.group(2)
    text = match.group(0)
    return text[:-1] + "\\" + text[-1]


def inline_code(text: object) -> str:
    """`text` as one markdown code span on one line (nothing inside a code span is interpreted)."""
    flat = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}" if flat else ""


def quoted(text: object, limit: int = SHOWN_CHARS) -> str:
    """A short, escaped, quoted rendering of an untrusted value (URL parameters, typed names)."""
    value = str(text)
    return "'" + escape_inline(value if len(value) <= limit else value[:limit] + "…") + "'"


def visible_token(token: str) -> str:
    """A token with its leading space and line breaks made visible (for tables of tokens)."""
    shown = "\u2423" + token[1:] if token.startswith(" ") else token
    return shown.replace("\n", "\u21b5")


def highlight_tokens(tokens: Sequence[str], values: Sequence[float], *, scale: float | None = None) -> str:
    """Inline HTML spans, background alpha = value / scale, title = the value; every token is escaped.

    `scale` defaults to the largest value; zero or negative values get no colour. The output is one
    line, so markdown reads it as one HTML block and interprets nothing inside it.
    """
    top = scale if scale is not None else max((v for v in values), default=0.0)
    spans = []
    for token, value in zip(tokens, values, strict=True):
        alpha = min(max(value / top, 0.0), 1.0) if top > 0 else 0.0
        # Any line ending would let a blank line end the HTML block and hand the rest to markdown.
        text = html.escape(token).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\u21b5<br>")
        style = f"background: rgba({HIGHLIGHT_RGB[0]},{HIGHLIGHT_RGB[1]},{HIGHLIGHT_RGB[2]},{alpha:.2f})"
        spans.append(f'<span class="fac-tok" style="{style}" title="{value:.3f}">{text}</span>')
    return '<div class="fac-tokens">' + "".join(spans) + "</div>"


def token_html(tokens: Sequence[str], values: Sequence[float], content_start: int, *, with_prefix: bool,
               scale: float | None) -> str:
    """Highlighted tokens of one sample, from t0 on unless the template prefix is asked for."""
    start = 0 if with_prefix else min(max(content_start, 0), len(tokens))
    return highlight_tokens(tokens[start:], values[start:], scale=scale)
