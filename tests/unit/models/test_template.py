"""Chat-template wrapping and the content start t0, on the tiny tokenizer."""

import pytest
from transformers import PreTrainedTokenizerFast

from fac_engine.errors import FacError
from fac_engine.models.template import encode_text


def test_chat_content_start_skips_template_prefix(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    encoded = encode_text(tiny_tokenizer, "the cat sat", chat=True, max_length=64)
    tokens = tiny_tokenizer.convert_ids_to_tokens(encoded.ids)
    assert tokens == ["<|im_start|>", "user", "the", "cat", "sat", "<|im_end|>"]
    assert encoded.content_start == 2
    assert not encoded.truncated


def test_plain_text_starts_at_zero(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    encoded = encode_text(tiny_tokenizer, "hello world", chat=False, max_length=64)
    assert tiny_tokenizer.convert_ids_to_tokens(encoded.ids) == ["hello", "world"]
    assert encoded.content_start == 0


def test_truncation_is_reported(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    encoded = encode_text(tiny_tokenizer, "the cat sat on the mat", chat=True, max_length=4)
    assert len(encoded.ids) == 4
    assert encoded.truncated
    assert encoded.content_start == 2


def test_content_repeating_template_words(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    # The content itself says "user": t0 must still point at the content, not the role.
    encoded = encode_text(tiny_tokenizer, "user user", chat=True, max_length=64)
    assert encoded.content_start == 2


def test_no_template_refused(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    tiny_tokenizer.chat_template = None
    with pytest.raises(FacError, match="no chat template"):
        encode_text(tiny_tokenizer, "hello", chat=True, max_length=8)
