"""Turn texts into token ids, wrapped in the model's chat template, with the content tokens marked.

The paper pools features over content tokens only, skipping the chat-template prefix
(docs/METHOD.md section 1). Its code hard-codes t0 = 31 for Llama-3.1; we find the content
tokens per sample from the tokenizer's own offsets, so any template and any system prompt work:
a token is content when its characters overlap the content of a non-system message (from the
first one on) and it is not a special token. Role markers between turns, template suffixes
(`<|im_end|>` and the newline after it) and BOS / EOS are never content.
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

from jinja2 import TemplateError
from transformers import PreTrainedTokenizerBase

from fac_engine.data.schemas import Message, plain_transcript
from fac_engine.errors import FacError

CONTENT_MARK = "\ue000fac-content{}\ue001"
"""Stands in for message k's content while rendering, to find where the template puts it (private-use
characters, so no real text or template contains it)."""
POOLING_POLICY = "content-tokens"
"""Recorded in each dataset's manifest: pooled tokens are exactly the content tokens described above."""


class EncodedText(NamedTuple):
    """One sample as the model sees it."""

    ids: list[int]
    """Token ids, template included, truncated to the context limit."""
    content_start: int
    """t0: index of the first content token (of the first non-system message; 0 for plain text)."""
    truncated: bool
    """Whether the sample was cut at the context limit."""
    content_mask: tuple[bool, ...] = ()
    """Per token: is it content (pooled)? Empty means every token from t0 on (older callers)."""

    def content(self) -> list[bool]:
        """Per-token content flags (the mask, or t >= t0 when no mask was computed)."""
        if self.content_mask:
            return list(self.content_mask)
        return [t >= self.content_start for t in range(len(self.ids))]


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def render_chat(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> str:
    """The chat-template string of `messages` (no generation prompt)."""
    try:
        rendered = tokenizer.apply_chat_template(
            [m._asdict() for m in messages], tokenize=False, add_generation_prompt=False
        )
    except TemplateError as exc:
        raise FacError(f"The model's chat template refused this conversation: {exc}") from exc
    assert isinstance(rendered, str)
    return rendered


def _tokenize_with_offsets(
    tokenizer: PreTrainedTokenizerBase, text: str, *, add_special_tokens: bool
) -> tuple[list[int], list[tuple[int, int]]]:
    try:
        enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    except NotImplementedError as exc:
        raise FacError("Finding the content tokens needs a fast tokenizer (one with offsets).") from exc
    return list(enc["input_ids"]), list(enc["offset_mapping"])


def _truncate(ids: list[int], mask: list[bool], max_length: int) -> EncodedText:
    mask = mask[:max_length]
    content_start = next((t for t, m in enumerate(mask) if m), min(len(ids), max_length))
    return EncodedText(ids[:max_length], content_start, len(ids) > max_length, tuple(mask))


def _special_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """Template and control tokens (BOS, EOS, role markers); the unknown token stands for text, so it stays."""
    return {int(i) for i in tokenizer.all_special_ids} - {tokenizer.unk_token_id}


def _content_spans(render: Callable[[Sequence[Message]], str], messages: Sequence[Message], first: int,
                   rendered: str) -> list[tuple[int, int]]:
    """Character spans of the content of messages first.. (non-system) inside `rendered`.

    Every such message's content is swapped for its own mark in a second rendering; putting the
    contents back where the marks landed must give `rendered` again (as is, or stripped: some
    templates trim), else the template rewrote the content and the tokens cannot be located.
    """
    wanted = [k for k in range(first, len(messages)) if messages[k].role != "system"]
    marked = render([Message(m.role, CONTENT_MARK.format(k)) if k in wanted else m for k, m in enumerate(messages)])
    places = sorted((marked.find(CONTENT_MARK.format(k)), k) for k in wanted)
    if any(pos < 0 for pos, _ in places):
        raise FacError("The chat template changed the text it wraps (or dropped a message); cannot locate the "
                       "content tokens.")
    for strip in (False, True):
        out, spans, prev = [], [], 0
        length = 0
        for pos, k in places:
            piece = marked[prev:pos]
            content = messages[k].content.strip() if strip else messages[k].content
            out.append(piece)
            length += len(piece)
            spans.append((length, length + len(content)))
            out.append(content)
            length += len(content)
            prev = pos + len(CONTENT_MARK.format(k))
        out.append(marked[prev:])
        if "".join(out) == rendered:
            return spans
    raise FacError("The chat template changed the text it wraps; cannot locate the content tokens.")


def _encode_conversation(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message], *, template: bool, max_length: int
) -> EncodedText:
    """Render with the chat template (or as `role: content` lines) and mark the content tokens from the offsets.

    t0 is the first content token: the first token of the first non-system message's content.
    """
    if not messages:
        raise FacError("A conversation needs at least one message.")
    render: Callable[[Sequence[Message]], str] = (lambda ms: render_chat(tokenizer, ms)) if template \
        else plain_transcript
    k = next((i for i, m in enumerate(messages) if m.role != "system"), 0)
    rendered = render(messages)
    spans = _content_spans(render, messages, k, rendered)
    ids, offsets = _tokenize_with_offsets(tokenizer, rendered, add_special_tokens=not template)
    special = _special_ids(tokenizer)
    mask = [tid not in special and end > start and any(end > a and start < b for a, b in spans)
            for tid, (start, end) in zip(ids, offsets, strict=True)]
    return _truncate(ids, mask, max_length)


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str, *, chat: bool, max_length: int) -> EncodedText:
    """Token ids of `text` (as a user turn when `chat`), with t0 and truncation at `max_length`.

    Plain text: every token but special ones (BOS) is content; a chat turn as in `encode_messages`. `chat` with a
    tokenizer that has no chat template raises FacError.
    """
    if not chat:
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        special = _special_ids(tokenizer)
        return _truncate(ids, [i not in special for i in ids], max_length)
    if not has_chat_template(tokenizer):
        raise FacError("This model's tokenizer has no chat template; encode the data as plain text instead.")
    return _encode_conversation(tokenizer, [Message("user", text)], template=True, max_length=max_length)


def encode_messages(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message], max_length: int) -> EncodedText:
    """Token ids of a conversation in the tokenizer's chat template, t0 at the first non-system content.

    A tokenizer without a chat template gets `role: content` lines (with its own special tokens),
    t0 at the first non-system message's content. Cut at `max_length`, flagged in `truncated`.
    """
    template = has_chat_template(tokenizer)
    return _encode_conversation(tokenizer, messages, template=template, max_length=max_length)
