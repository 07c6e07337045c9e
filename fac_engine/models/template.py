"""Turn texts into token ids, wrapped in the model's chat template, with the content start t0.

The paper pools features over content tokens t >= t0 only, skipping the chat-template
prefix (docs/METHOD.md section 1). Its code hard-codes t0 = 31 for Llama-3.1; we find t0
per sample from the tokenizer's own offsets, so any template and any system prompt work.
"""

from collections.abc import Sequence
from typing import NamedTuple

from jinja2 import TemplateError
from transformers import PreTrainedTokenizerBase

from fac_engine.data.schemas import Message, plain_transcript
from fac_engine.errors import FacError

CONTENT_MARK = "\ue000fac-content\ue001"
"""Stands in for the content while rendering, to find where the template puts it (private-use
characters, so no real text or template contains it)."""


class EncodedText(NamedTuple):
    """One sample as the model sees it."""

    ids: list[int]
    """Token ids, template included, truncated to the context limit."""
    content_start: int
    """t0: index of the first content token (of the first non-system message; 0 for plain text)."""
    truncated: bool
    """Whether the sample was cut at the context limit."""


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


def _truncate(ids: list[int], content_start: int, max_length: int) -> EncodedText:
    return EncodedText(ids[:max_length], min(content_start, max_length), len(ids) > max_length)


def _encode_conversation(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message], *, template: bool, max_length: int
) -> EncodedText:
    """Render with the chat template (or as `role: content` lines) and find t0 from the offsets.

    The first non-system message's content is swapped for CONTENT_MARK in a second rendering; where
    the mark lands is where the content starts, whatever the template puts before it. t0 is the
    first token whose character span ends after that point.
    """
    if not messages:
        raise FacError("A conversation needs at least one message.")
    render = (lambda ms: render_chat(tokenizer, ms)) if template else plain_transcript
    k = next((i for i, m in enumerate(messages) if m.role != "system"), 0)
    content = messages[k].content
    rendered = render(messages)
    char_start = render([*messages[:k], Message(messages[k].role, CONTENT_MARK), *messages[k + 1 :]]).find(CONTENT_MARK)
    if char_start < 0 or not rendered[char_start:].lstrip().startswith(content.strip()):
        raise FacError("The chat template changed the text it wraps; cannot locate the content tokens.")
    ids, offsets = _tokenize_with_offsets(tokenizer, rendered, add_special_tokens=not template)
    content_start = next((t for t, (_, end) in enumerate(offsets) if end > char_start), len(ids))
    return _truncate(ids, content_start, max_length)


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str, *, chat: bool, max_length: int) -> EncodedText:
    """Token ids of `text` (as a user turn when `chat`), with t0 and truncation at `max_length`.

    Plain text starts at t0 = 0; a chat turn's t0 is found as in `encode_messages`. `chat` with a
    tokenizer that has no chat template raises FacError.
    """
    if not chat:
        return _truncate(list(tokenizer(text, add_special_tokens=True)["input_ids"]), 0, max_length)
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
