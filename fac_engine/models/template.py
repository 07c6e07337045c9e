"""Turn texts into token ids, wrapped in the model's chat template, with the content start t0.

The paper pools features over content tokens t >= t0 only, skipping the chat-template
prefix (FAC_METHOD.md section 1). Its code hard-codes t0 = 31 for Llama-3.1; we find t0
per sample from the tokenizer's own offsets, so any template and any system prompt work.
"""

from typing import NamedTuple

from transformers import PreTrainedTokenizerBase

from fac_engine.errors import FacError


class EncodedText(NamedTuple):
    """One sample as the model sees it."""

    ids: list[int]
    """Token ids, template included, truncated to the context limit."""
    content_start: int
    """t0: index of the first token of the user's text (0 without a template)."""
    truncated: bool
    """Whether the sample was cut at the context limit."""


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def render_user_turn(tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """The chat-template string of one user message holding `text` (no generation prompt)."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=False
    )
    assert isinstance(rendered, str)
    return rendered


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str, *, chat: bool, max_length: int) -> EncodedText:
    """Token ids of `text` (as a user turn when `chat`), with t0 and truncation at `max_length`.

    t0 is the first token whose character span ends after the content's first character in
    the rendered string; a template without offsets support raises FacError.
    """
    if chat and not has_chat_template(tokenizer):
        raise FacError("This model's tokenizer has no chat template; encode the data as plain text instead.")
    rendered = render_user_turn(tokenizer, text) if chat else text
    char_start = rendered.rfind(text) if chat and text else 0
    if char_start < 0:
        raise FacError("The chat template changed the text it wraps; cannot locate the content tokens.")
    enc = tokenizer(rendered, add_special_tokens=not chat, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    offsets: list[tuple[int, int]] = list(enc["offset_mapping"])
    content_start = 0
    if chat:
        content_start = next((t for t, (_, end) in enumerate(offsets) if end > char_start), len(ids))
    truncated = len(ids) > max_length
    return EncodedText(ids[:max_length], min(content_start, max_length), truncated)
