"""The fluency guard on the tiny Llama: perplexity of content tokens, repetition of word 3-grams, the flags."""

import math
from pathlib import Path

import pytest
import torch

from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.models.template import encode_text
from fac_engine.synthesis.fluency import Fluency, FluencyConfig, fluency, perplexities, repetition_rate

LOOP = "the cat the cat the cat the cat"
"""8 words, 6 word 3-grams of which only 2 are distinct: 4 repeat an earlier one."""


@pytest.fixture
def lm(tiny_model_dir: Path) -> LoadedModel:
    return load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))


def _perplexity_by_hand(lm: LoadedModel, text: str) -> float:
    enc = encode_text(lm.tokenizer, text, chat=True, max_length=64)
    ids_T = torch.tensor(enc.ids)
    with torch.inference_mode():
        logp_TV = torch.log_softmax(lm.model(input_ids=ids_T[None]).logits[0].float(), dim=-1)
    content = enc.content()
    nll = [-float(logp_TV[t - 1, ids_T[t]]) for t in range(1, len(enc.ids)) if content[t]]
    return math.exp(sum(nll) / len(nll))


def test_repetition_rate_counts_repeated_word_trigrams() -> None:
    assert repetition_rate(LOOP) == pytest.approx(4 / 6)
    assert repetition_rate("The cat sat on the mat.") == 0.0
    assert repetition_rate("too short") == 0.0


def test_perplexity_is_that_of_the_content_tokens(lm: LoadedModel) -> None:
    texts = [LOOP, "hello world", "red"]
    encoded = [encode_text(lm.tokenizer, t, chat=True, max_length=64) for t in texts]
    assert perplexities(lm, encoded) == pytest.approx([_perplexity_by_hand(lm, t) for t in texts], rel=1e-5)


def test_the_guard_flags_a_looping_text_and_an_unlikely_one(lm: LoadedModel) -> None:
    texts = [LOOP, "hello world"]
    encoded = [encode_text(lm.tokenizer, t, chat=True, max_length=64) for t in texts]
    loop_ppl, hello_ppl = (_perplexity_by_hand(lm, t) for t in texts)
    lenient = fluency(lm, encoded, texts, FluencyConfig(max_perplexity=1e6, max_repetition=0.3))
    assert lenient == [Fluency(pytest.approx(loop_ppl, rel=1e-5), pytest.approx(4 / 6), True),  # type: ignore[arg-type]
                       Fluency(pytest.approx(hello_ppl, rel=1e-5), 0.0, False)]  # type: ignore[arg-type]
    strict = fluency(lm, encoded, texts, FluencyConfig(max_perplexity=min(loop_ppl, hello_ppl) / 2, max_repetition=1))
    assert [f.flagged for f in strict] == [True, True]


def test_fluency_config_checks() -> None:
    with pytest.raises(ValueError, match="above 1"):
        FluencyConfig(max_perplexity=1.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        FluencyConfig(max_repetition=1.5)
