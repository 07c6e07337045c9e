"""residual_stream: same values as transformers' hidden_states, early stop, hooks always removed."""

import pytest
import torch
from torch import nn
from transformers import LlamaForCausalLM

from fac_engine.errors import FacError
from fac_engine.models.capture import decoder_layers, default_layer, residual_stream
from tests.conftest import TINY_HIDDEN, TINY_LAYERS


def _batch(vocab: int, lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random right-padded ids (pad id 0) and the matching mask."""
    gen = torch.Generator().manual_seed(seed)
    ids_BT = torch.zeros((len(lengths), max(lengths)), dtype=torch.long)
    mask_BT = torch.zeros_like(ids_BT)
    for b, n in enumerate(lengths):
        ids_BT[b, :n] = torch.randint(4, vocab, (n,), generator=gen)
        mask_BT[b, :n] = 1
    return ids_BT, mask_BT


def _hook_counts(model: nn.Module) -> dict[str, tuple[int, int]]:
    """Forward and pre-forward hooks on every submodule."""
    return {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()}


def test_default_layer_is_the_middle() -> None:
    assert [default_layer(n) for n in (1, 2, 3, 30, 32)] == [0, 1, 1, 15, 16]


def test_decoder_layers_are_the_llama_blocks(tiny_model: LlamaForCausalLM) -> None:
    assert decoder_layers(tiny_model) is tiny_model.model.layers
    assert decoder_layers(tiny_model.model) is tiny_model.model.layers


def test_every_layer_equals_transformers_hidden_states(tiny_model: LlamaForCausalLM) -> None:
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [7, 5, 2])
    with torch.no_grad():
        expected = tiny_model(input_ids=ids_BT, attention_mask=mask_BT, output_hidden_states=True).hidden_states
    assert len(expected) == TINY_LAYERS + 1
    for layer in range(TINY_LAYERS + 1):
        resid_BTD = residual_stream(tiny_model, ids_BT, mask_BT, layer)
        assert resid_BTD.shape == (3, 7, TINY_HIDDEN)
        assert torch.equal(resid_BTD, expected[layer]), f"layer {layer}"


def test_last_layer_is_the_last_block_output_after_the_final_norm(tiny_model: LlamaForCausalLM) -> None:
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [6])
    raw: list[torch.Tensor] = []
    handle = tiny_model.model.layers[-1].register_forward_hook(lambda _m, _a, out: raw.append(out))
    try:
        last_BTD = residual_stream(tiny_model, ids_BT, mask_BT, TINY_LAYERS)
    finally:
        handle.remove()
    with torch.no_grad():
        torch.testing.assert_close(last_BTD, tiny_model.model.norm(raw[0]), rtol=0, atol=0)
    assert not torch.allclose(last_BTD, raw[0])


@pytest.mark.parametrize("layer", range(TINY_LAYERS + 1))
def test_blocks_after_the_layer_never_run(tiny_model: LlamaForCausalLM, layer: int) -> None:
    calls = {"block": [0] * TINY_LAYERS, "norm": 0, "lm_head": 0}

    def counter(index: int) -> object:
        def hook(*_: object) -> None:
            calls["block"][index] += 1  # type: ignore[index]

        return hook

    handles = [block.register_forward_hook(counter(i)) for i, block in enumerate(tiny_model.model.layers)]
    handles.append(tiny_model.model.norm.register_forward_hook(lambda *_: calls.__setitem__("norm", 1)))
    handles.append(tiny_model.lm_head.register_forward_hook(lambda *_: calls.__setitem__("lm_head", 1)))
    try:
        ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [4, 3])
        residual_stream(tiny_model, ids_BT, mask_BT, layer)
    finally:
        for handle in handles:
            handle.remove()
    # Forward hooks count completed modules. Layer 0 is the input of block 1: no block completes.
    assert calls["block"] == [1] * layer + [0] * (TINY_LAYERS - layer)
    assert calls["norm"] == (1 if layer == TINY_LAYERS else 0)
    assert calls["lm_head"] == 0


def test_hooks_are_removed_after_a_call(tiny_model: LlamaForCausalLM) -> None:
    assert all(counts == (0, 0) for counts in _hook_counts(tiny_model).values())
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [5])
    for layer in range(TINY_LAYERS + 1):
        residual_stream(tiny_model, ids_BT, mask_BT, layer)
    assert all(counts == (0, 0) for counts in _hook_counts(tiny_model).values())


@pytest.mark.parametrize("layer", [0, 2])
def test_hooks_are_removed_when_the_forward_pass_raises(tiny_model: LlamaForCausalLM, layer: int) -> None:
    before = _hook_counts(tiny_model)
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [5])
    ids_BT[0, 0] = tiny_model.config.vocab_size + 10  # out of the embedding table: IndexError
    with pytest.raises(IndexError):
        residual_stream(tiny_model, ids_BT, mask_BT, layer)
    assert _hook_counts(tiny_model) == before


def test_hooks_are_removed_when_a_block_raises(tiny_model: LlamaForCausalLM) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    handle = tiny_model.model.layers[0].register_forward_hook(explode)
    before = _hook_counts(tiny_model)
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [5])
    try:
        with pytest.raises(RuntimeError, match="boom"):
            residual_stream(tiny_model, ids_BT, mask_BT, 2)
        assert _hook_counts(tiny_model) == before
    finally:
        handle.remove()


@pytest.mark.parametrize("layer", [-1, TINY_LAYERS + 1, 99])
def test_layer_out_of_range_is_a_user_error(tiny_model: LlamaForCausalLM, layer: int) -> None:
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [3])
    with pytest.raises(FacError, match=rf"Layer {layer} is outside this model's range 0\.\.{TINY_LAYERS}"):
        residual_stream(tiny_model, ids_BT, mask_BT, layer)


def test_padded_positions_do_not_change_real_ones(tiny_model: LlamaForCausalLM) -> None:
    lengths = [9, 4, 1, 6]
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, lengths)
    for layer in (1, TINY_LAYERS):
        batched_BTD = residual_stream(tiny_model, ids_BT, mask_BT, layer)
        for b, n in enumerate(lengths):
            alone_1TD = residual_stream(tiny_model, ids_BT[b : b + 1, :n], mask_BT[b : b + 1, :n], layer)
            torch.testing.assert_close(batched_BTD[b, :n], alone_1TD[0], rtol=0, atol=1e-5)


def test_result_is_an_ordinary_tensor_usable_in_autograd(tiny_model: LlamaForCausalLM) -> None:
    ids_BT, mask_BT = _batch(tiny_model.config.vocab_size, [4])
    resid_BTD = residual_stream(tiny_model, ids_BT, mask_BT, 1)
    assert not resid_BTD.is_inference()
    weight_DD = torch.ones((TINY_HIDDEN, TINY_HIDDEN), requires_grad=True)
    (resid_BTD @ weight_DD).sum().backward()  # an SAE training step does exactly this
    assert weight_DD.grad is not None


def test_unsupported_architecture_is_a_user_error() -> None:
    class NoBlocks(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = type("Config", (), {"num_hidden_layers": 2})()
            self.proj = nn.Linear(2, 2)

    with pytest.raises(FacError, match="Cannot find the 2 decoder blocks of NoBlocks"):
        decoder_layers(NoBlocks())
    with pytest.raises(FacError, match=r"no config\.num_hidden_layers"):
        decoder_layers(nn.Linear(2, 2))
