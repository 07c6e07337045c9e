"""Chat-template wrapping and the content start t0, on the tiny tokenizer."""

import pytest
from transformers import PreTrainedTokenizerFast

from fac_engine.data.schemas import Message
from fac_engine.errors import FacError
from fac_engine.models.template import EncodedText, encode_messages, encode_text


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


def test_messages_content_start_skips_system_turn(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    messages = [Message("system", "you are a helpful model"), Message("user", "the cat sat"),
                Message("assistant", "hello world")]
    encoded = encode_messages(tiny_tokenizer, messages, max_length=64)
    assert tiny_tokenizer.convert_ids_to_tokens(encoded.ids) == [
        "<|im_start|>", "system", "you", "are", "a", "helpful", "model", "<|im_end|>",
        "<|im_start|>", "user", "the", "cat", "sat", "<|im_end|>",
        "<|im_start|>", "assistant", "hello", "world", "<|im_end|>",
    ]
    assert encoded.content_start == 10
    assert not encoded.truncated


def test_messages_content_repeating_the_system_text(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    # The user says what the system said: t0 must be the user's copy, not the first match.
    messages = [Message("system", "the cat"), Message("user", "the cat"), Message("assistant", "user")]
    encoded = encode_messages(tiny_tokenizer, messages, max_length=64)
    assert tiny_tokenizer.convert_ids_to_tokens(encoded.ids)[:9] == [
        "<|im_start|>", "system", "the", "cat", "<|im_end|>", "<|im_start|>", "user", "the", "cat"
    ]
    assert encoded.content_start == 7


def test_single_user_message_matches_encode_text(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    assert encode_messages(tiny_tokenizer, [Message("user", "user user")], max_length=64) == encode_text(
        tiny_tokenizer, "user user", chat=True, max_length=64
    )


def test_messages_truncation_counted(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    conversations = [
        [Message("user", "the cat sat on the mat")],  # 8 tokens
        [Message("user", "hello")],  # 4 tokens
        [Message("user", "red"), Message("assistant", "blue green")],  # 9 tokens
    ]
    encoded = [encode_messages(tiny_tokenizer, c, max_length=6) for c in conversations]
    assert [len(e.ids) for e in encoded] == [6, 4, 6]
    assert [e.truncated for e in encoded] == [True, False, True]
    assert sum(e.truncated for e in encoded) == 2
    assert encode_messages(tiny_tokenizer, [Message("system", "a good model"), Message("user", "hi")], 4) == (
        EncodedText(tiny_tokenizer.convert_tokens_to_ids(["<|im_start|>", "system", "a", "good"]), 4, True,
                    (False,) * 4)
    )


def test_messages_without_template_fall_back_to_role_lines(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    tiny_tokenizer.chat_template = None
    messages = [Message("system", "be good"), Message("user", "the cat"), Message("assistant", "it sat")]
    encoded = encode_messages(tiny_tokenizer, messages, max_length=64)
    # "system:", "user:" and "assistant:" are not in the tiny vocabulary: <unk>.
    assert tiny_tokenizer.convert_ids_to_tokens(encoded.ids) == [
        "<unk>", "<unk>", "good", "<unk>", "the", "cat", "<unk>", "it", "sat"
    ]
    assert encoded.content_start == 4


def test_template_errors_are_fac_errors(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    with pytest.raises(FacError, match="at least one message"):
        encode_messages(tiny_tokenizer, [], max_length=8)
    tiny_tokenizer.chat_template = "{{ raise_exception('Conversation roles must alternate') }}"
    with pytest.raises(FacError, match="refused this conversation: Conversation roles must alternate"):
        encode_messages(tiny_tokenizer, [Message("user", "hi")], max_length=8)
    tiny_tokenizer.chat_template = "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"
    with pytest.raises(FacError, match="changed the text it wraps"):
        encode_messages(tiny_tokenizer, [Message("user", "hi")], max_length=8)


def _content_tokens(tokenizer: PreTrainedTokenizerFast, encoded: EncodedText) -> list[str]:
    return [t for t, c in zip(tokenizer.convert_ids_to_tokens(encoded.ids), encoded.content(), strict=True) if c]


def test_chat_suffix_is_not_content(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    encoded = encode_text(tiny_tokenizer, "the cat sat", chat=True, max_length=64)
    assert encoded.content_mask == (False, False, True, True, True, False)  # <|im_start|> user ... <|im_end|>


def test_role_markers_between_turns_are_not_content(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    messages = [Message("system", "be good"), Message("user", "red"), Message("assistant", "blue green"),
                Message("user", "user user")]
    encoded = encode_messages(tiny_tokenizer, messages, max_length=64)
    tokens = tiny_tokenizer.convert_ids_to_tokens(encoded.ids)
    assert tokens == ["<|im_start|>", "system", "<unk>", "good", "<|im_end|>", "<|im_start|>", "user", "red",
                      "<|im_end|>", "<|im_start|>", "assistant", "blue", "green", "<|im_end|>", "<|im_start|>",
                      "user", "user", "user", "<|im_end|>"]
    # System content, role words, <|im_start|> / <|im_end|> are out; the words of each turn are in, also
    # content that repeats a role word.
    assert [i for i, c in enumerate(encoded.content()) if c] == [7, 11, 12, 16, 17]
    assert _content_tokens(tiny_tokenizer, encoded) == ["red", "blue", "green", "user", "user"]
    assert encoded.content_start == 7


def test_plain_text_never_pools_a_bos(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    from tokenizers import processors

    # Llama / Mistral tokenizers add a BOS to plain text; here <|im_start|> (id 2) plays that part.
    tiny_tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|im_start|> $A", special_tokens=[("<|im_start|>", 2)])
    encoded = encode_text(tiny_tokenizer, "hello world", chat=False, max_length=64)
    assert tiny_tokenizer.convert_ids_to_tokens(encoded.ids) == ["<|im_start|>", "hello", "world"]
    assert encoded.content_mask == (False, True, True)
    assert encoded.content_start == 1


def test_truncation_cuts_the_mask_too(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    encoded = encode_messages(tiny_tokenizer, [Message("user", "red"), Message("assistant", "blue green")], 7)
    assert encoded.content_mask == (False, False, True, False, False, False, True)
    assert encoded.truncated


def test_trimming_templates_are_located(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    tiny_tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] | trim }}"
                                    "<|im_end|> {% endfor %}")
    encoded = encode_messages(tiny_tokenizer, [Message("user", "  the cat  ")], max_length=64)
    assert _content_tokens(tiny_tokenizer, encoded) == ["the", "cat"]


def test_a_mask_free_text_pools_from_t0() -> None:
    # Callers that build EncodedText by hand (no mask) keep the t >= t0 meaning.
    assert EncodedText([5, 6, 7], 1, False).content() == [False, True, True]


def test_unknown_words_are_content(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    # <unk> is a special token of the tokenizer but stands for real text.
    encoded = encode_text(tiny_tokenizer, "the zebra sat", chat=True, max_length=64)
    assert _content_tokens(tiny_tokenizer, encoded) == ["the", "<unk>", "sat"]
