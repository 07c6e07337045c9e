"""Token highlighting as HTML. Dataset text is untrusted: every token is escaped."""

import html
from collections.abc import Sequence

HIGHLIGHT_RGB = (255, 140, 0)


def highlight_tokens(tokens: Sequence[str], values: Sequence[float], *, scale: float | None = None) -> str:
    """Inline HTML spans, background alpha = value / scale, title = the value.

    `scale` defaults to the largest value; zero or negative values get no colour.
    """
    top = scale if scale is not None else max((v for v in values), default=0.0)
    spans = []
    for token, value in zip(tokens, values, strict=True):
        alpha = min(max(value / top, 0.0), 1.0) if top > 0 else 0.0
        text = html.escape(token).replace("\n", "\u21b5<br>")
        style = f"background: rgba({HIGHLIGHT_RGB[0]},{HIGHLIGHT_RGB[1]},{HIGHLIGHT_RGB[2]},{alpha:.2f})"
        spans.append(f'<span class="fac-tok" style="{style}" title="{value:.3f}">{text}</span>')
    return '<div class="fac-tokens">' + "".join(spans) + "</div>"
