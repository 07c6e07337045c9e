"""Steering hooks on the tiny Llama with a hand-built SAE: exact added vectors, layers, positions, removal, refusals.

The SAE's feature 0 decodes to 2 * e_5 (unit direction e_5), feature 1 to 3 * e_0 + 4 * e_1 (unit 0.6 e_0 + 0.8 e_1).
"""

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from fac_engine.errors import FacError
from fac_engine.llm.backend import BackendSpec, can_steer
from fac_engine.llm.generators import GenerationConfig, LocalGenerator, OpenAIGenerator
from fac_engine.llm.steering import (
    Steer,
    SteeredGenerator,
    SteeringConfig,
    SteeringContext,
    check_steerable,
    median_token_norm,
    steered_generator,
    steering_module,
)
from fac_engine.models.capture import decoder_layers, residual_stream
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.model import SparseAutoencoder
from tests.conftest import TINY_HIDDEN

NORM = 10.0
"""The typical residual norm the exact tests steer with (set, not measured)."""
PROMPTS_BT = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 13, 14]])
"""Two prompts of 5 tokens (no padding, so plain and cached forward passes agree)."""


def _sae(layer: int, d_in: int = TINY_HIDDEN, model_name: str = "") -> SparseAutoencoder:
    cfg = SaeConfig(d_in=d_in, d_sae=2, activation="relu", hook_layer=layer, model_name=model_name)
    W_dec = torch.zeros(2, d_in)
    W_dec[0, 5] = 2.0
    W_dec[1, 0], W_dec[1, 1] = 3.0, 4.0
    return SparseAutoencoder.from_tensors(cfg, {"W_enc": W_dec.t().clone(), "b_enc": torch.zeros(2), "W_dec": W_dec,
                                                "b_dec": torch.zeros(d_in)})


@pytest.fixture
def lm(tiny_model_dir: Path) -> LoadedModel:
    return load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))


def _expected_BD() -> torch.Tensor:
    out = torch.zeros(2, TINY_HIDDEN)
    out[0, 5] = 0.5 * NORM  # alpha 0.5 along e_5
    out[1, 0], out[1, 1] = 12.0, 16.0  # alpha 2 * NORM * (0.6, 0.8)
    return out


STEERS = [Steer(0, 0.5), Steer(1, 2.0)]


def _hidden_seen_after(model: nn.Module, layer: int) -> tuple[list[torch.Tensor], Any]:
    """Record what block `layer + 1` receives (hidden_states[layer] after any steering hook on `layer`)."""
    seen: list[torch.Tensor] = []

    def keep(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        seen.append((args[0] if args else kwargs["hidden_states"]).detach().clone())

    handle = decoder_layers(model)[layer].register_forward_pre_hook(keep, with_kwargs=True)
    return seen, handle


def test_vectors_are_alpha_times_norm_along_the_unit_decoder_row(lm: LoadedModel) -> None:
    ctx = SteeringContext(lm, _sae(1), NORM, SteeringConfig())
    assert torch.equal(ctx.vectors(STEERS), _expected_BD())
    assert torch.equal(ctx.vectors([None, Steer(0, 1.0)])[0], torch.zeros(TINY_HIDDEN))


@pytest.mark.parametrize(("layer", "steer_prompt"), [(0, False), (1, False), (2, True)])
def test_hook_adds_exactly_the_vector_at_the_layer_and_positions(lm: LoadedModel, layer: int,
                                                                  steer_prompt: bool) -> None:
    ctx = SteeringContext(lm, _sae(layer), NORM, SteeringConfig(steer_prompt=steer_prompt))
    ids_BT = torch.cat([PROMPTS_BT, torch.tensor([[15, 16], [17, 18]])], dim=1)  # 5 prompt + 2 generated tokens
    mask_BT = torch.ones_like(ids_BT)
    plain_BTD = residual_stream(lm.model, ids_BT, mask_BT, layer)
    seen, handle = _hidden_seen_after(lm.model, layer)
    try:
        with torch.inference_mode(), ctx.batch(STEERS).rows([0, 1], prompt_width=5):
            lm.model(input_ids=ids_BT, attention_mask=mask_BT, use_cache=False)
    finally:
        handle.remove()
    # The last prompt position samples the first new token, so it is steered with the generated ones.
    on_T = torch.tensor([steer_prompt] * 4 + [True] * 3, dtype=torch.float32)
    assert torch.equal(seen[0], plain_BTD + _expected_BD()[:, None, :] * on_T[None, :, None])
    assert not steering_module(lm.model, layer)._forward_hooks


def test_generation_steers_the_last_prompt_position_and_every_generated_one(lm: LoadedModel) -> None:
    ctx = SteeringContext(lm, _sae(1), NORM, SteeringConfig())
    seen, handle = _hidden_seen_after(lm.model, 1)
    try:
        with ctx.batch(STEERS).rows([1, 0], prompt_width=5):  # batch row 0 is prompt 1, row 1 is prompt 0
            out_BT = lm.model.generate(input_ids=PROMPTS_BT, attention_mask=torch.ones_like(PROMPTS_BT),
                                       do_sample=False, max_new_tokens=3, pad_token_id=lm.pad_id)
    finally:
        handle.remove()
    assert [s.shape[1] for s in seen] == [5, 1, 1]  # the prompt, then one cached position per new token
    steered_BTD = torch.cat(seen, dim=1)
    plain_BTD = residual_stream(lm.model, out_BT[:, :7], torch.ones(2, 7, dtype=torch.long), 1)
    on_T = torch.tensor([0.0] * 4 + [1.0] * 3)
    expected_BD = _expected_BD()[[1, 0]]
    torch.testing.assert_close(steered_BTD, plain_BTD + expected_BD[:, None, :] * on_T[None, :, None],
                               atol=1e-4, rtol=1e-4)


def test_hooks_are_removed_after_generation_and_when_it_fails(lm: LoadedModel, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    gen = SteeredGenerator(LocalGenerator(lm), SteeringContext(lm, _sae(1), NORM, SteeringConfig()))
    block = decoder_layers(lm.model)[0]
    cfg = GenerationConfig(max_new_tokens=2, batch_size=2, seed=3)
    texts = gen.generate_steered(["the cat", "hello"], STEERS, 2, cfg)
    assert [len(t) for t in texts] == [2, 2] and not block._forward_hooks
    hooks_during: list[int] = []

    def broken(**_: Any) -> None:
        hooks_during.append(len(block._forward_hooks))
        raise RuntimeError("out of memory")

    monkeypatch.setattr(lm.model, "generate", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        gen.generate_steered(["the cat"], [Steer(0, 1.0)], 1, cfg)
    assert hooks_during == [1] and not block._forward_hooks


def test_median_token_norm_of_the_layer(lm: LoadedModel) -> None:
    texts = ["the cat sat on the mat", "hello world"]
    norms = []
    for text in texts:
        ids_BT = torch.tensor([lm.tokenizer(text)["input_ids"]])
        with torch.inference_mode():
            hidden_BTD = lm.model(input_ids=ids_BT, output_hidden_states=True).hidden_states[2]
        norms.append(hidden_BTD[0].norm(dim=-1))
    assert median_token_norm(lm, 2, texts) == pytest.approx(float(torch.cat(norms).median()), rel=1e-6)


def test_a_mismatched_model_and_sae_are_refused_in_one_message(lm: LoadedModel) -> None:
    check_steerable(lm, _sae(2), lm.identity)  # no recorded model: the scoring model's identity is expected
    check_steerable(lm, _sae(2, model_name=lm.identity), "another@0123")  # a recorded identity wins
    with pytest.raises(FacError) as err:
        check_steerable(lm, _sae(3, d_in=32, model_name="other-model@abcdef012345"), lm.identity)
    assert str(err.value) == (
        f"Cannot steer with this generator: the generator is {lm.identity} but the SAE reads "
        "other-model@abcdef012345; the generator's hidden size is 64 but the SAE reads d_in=32; the SAE reads "
        "hidden_states[3], which is not a block output before the final norm of this 3-layer model. Steering needs "
        "the local generator to be the model the SAE was trained on (use --gen-model with --model's value).")
    with pytest.raises(FacError, match=r"the generator is tiny-llama@\w+ but the SAE reads scorer@1"):
        steered_generator(LocalGenerator(lm), _sae(1), _scoring_as(lm, "scorer@1"), SteeringConfig())
    with pytest.raises(FacError, match="an HTTP endpoint cannot be steered"):
        steered_generator(OpenAIGenerator("http://localhost:1/v1", "m"), _sae(1), lm, SteeringConfig())


def _scoring_as(lm: LoadedModel, identity: str) -> LoadedModel:
    return LoadedModel(lm.model, lm.tokenizer, lm.name, identity, lm.hidden_size, lm.num_layers, lm.device, lm.dtype)


def test_steering_config_checks() -> None:
    with pytest.raises(ValueError, match="distinct, positive"):
        SteeringConfig(alphas=(1.0, 1.0))
    with pytest.raises(ValueError, match="distinct, positive"):
        SteeringConfig(alphas=())


def test_only_the_scoring_model_itself_can_be_steered() -> None:
    scoring = ModelSpec(source="/models/smol", device="cpu", dtype="float32")
    assert can_steer(BackendSpec(model="/models/smol"), scoring)
    assert not can_steer(BackendSpec(model="qwen2.5-0.5b"), scoring)
    assert not can_steer(BackendSpec(kind="openai", model="/models/smol", base_url="http://localhost:8000/v1"), scoring)
