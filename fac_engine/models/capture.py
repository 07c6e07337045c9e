"""Read the residual stream at one layer, stopping the forward pass as soon as that layer has run.

Layer convention (the same as transformers' `hidden_states` and `SaeConfig.hook_layer`): layer 0
is the embedding output (the input of block 1), layer L is the output of block L (1-based), and
layer `num_layers` is the last block's output with the final norm applied, exactly as
`hidden_states[-1]`.
"""

from typing import Any

import torch
from torch import nn

from fac_engine.errors import FacError


class _StopForward(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by the capture hook once the wanted layer has run, so no later block or head runs."""


def default_layer(num_layers: int) -> int:
    """A middle layer (`num_layers // 2`): SAEs there see the most abstract, reusable features."""
    return num_layers // 2


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of decoder blocks of a causal LM, found without knowing its class.

    Llama/Mistral/Qwen/Gemma-style models keep them in `model.model.layers`; otherwise the first
    `nn.ModuleList` as long as `config.num_hidden_layers` is taken. Anything else is unsupported.
    """
    config = getattr(model, "config", None)
    num_layers = getattr(config, "num_hidden_layers", None)
    if not isinstance(num_layers, int):
        raise FacError(f"{type(model).__name__} has no config.num_hidden_layers; this architecture is unsupported.")
    base = getattr(model, "model", model)
    layers = getattr(base, "layers", None)
    if isinstance(layers, nn.ModuleList) and len(layers) == num_layers:
        return layers
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return module
    raise FacError(
        f"Cannot find the {num_layers} decoder blocks of {type(model).__name__}; this architecture is unsupported."
    )


def check_layer(layer: int, num_layers: int) -> None:
    """Raise FacError unless `0 <= layer <= num_layers`."""
    if not 0 <= layer <= num_layers:
        raise FacError(
            f"Layer {layer} is outside this model's range 0..{num_layers} "
            "(0 is the embeddings, L the output of block L)."
        )


def residual_stream(
    model: nn.Module, input_ids_BT: torch.Tensor, attention_mask_BT: torch.Tensor, layer: int
) -> torch.Tensor:
    """The residual stream `[B, T, D]` after `layer` (0..num_layers, see the module docstring).

    Sequences are right-padded; positions where `attention_mask_BT` is 0 hold padding that the
    caller drops. Inputs are moved to the model's device; the result stays there, in the model's
    dtype, as an ordinary tensor (usable in autograd, e.g. as SAE training input).
    """
    layers = decoder_layers(model)
    check_layer(layer, len(layers))
    # The base model (no LM head): for the last layer it returns the normed state hidden_states[-1] is.
    base: nn.Module = getattr(model, "base_model", model)
    device = next(model.parameters()).device
    inputs: dict[str, Any] = {
        "input_ids": input_ids_BT.to(device),
        "attention_mask": attention_mask_BT.to(device),
        "use_cache": False,
    }
    with torch.inference_mode():
        if layer == len(layers):
            resid_BTD: torch.Tensor = base(**inputs).last_hidden_state
        else:
            resid_BTD = _run_until(base, layers, layer, inputs)
    # Inference tensors cannot be saved for backward; a clone outside inference mode can.
    return resid_BTD.clone()


def _run_until(base: nn.Module, layers: nn.ModuleList, layer: int, inputs: dict[str, Any]) -> torch.Tensor:
    """Run `base` until block `layer` has produced its output (layer 0: the input of block 1)."""
    captured: list[torch.Tensor] = []

    def keep_input(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # transformers records hidden_states[0] as the first block's input, so read the same thing.
        captured.append(args[0] if args else kwargs["hidden_states"])
        raise _StopForward

    def keep_output(_module: nn.Module, _args: tuple[Any, ...], output: Any) -> None:
        # Older or remote-code blocks return (hidden_states, ...) tuples; current ones a tensor.
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _StopForward

    if layer == 0:
        handle = layers[0].register_forward_pre_hook(keep_input, with_kwargs=True)
    else:
        handle = layers[layer - 1].register_forward_hook(keep_output)
    try:
        base(**inputs)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f"The forward pass of {type(base).__name__} never reached block {max(layer, 1)}.")
    return captured[0]
