"""SAELens folders: `cfg.json` + `sae_weights.safetensors`, v6 and pre-6 configs.

v6 keeps the hook in `metadata.hook_name` and the activation in `architecture` (+ `k`); pre-6
configs are flat, spell the hook `hook_name` or `hook_point` and give the activation as
`activation_fn_str` (+ `activation_fn_kwargs.k`). SAELens itself upgrades pre-6 configs by
renaming those keys (sae_lens/loading/pretrained_sae_loaders.py, handle_pre_6_0_config), so
one reader that looks for both spellings covers both versions.
"""

from pathlib import Path
from typing import Any, NamedTuple

import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.sae.config import Activation, Normalization
from fac_engine.sae.filenames import SAELENS_ACTIVATION_SCALER, SAELENS_CFG, SAELENS_WEIGHTS
from fac_engine.sae.formats.common import (
    JsonObject,
    build_sae,
    get_bool,
    get_float,
    get_int,
    get_object,
    get_optional_int,
    make_config,
    read_json,
    read_safetensors,
    take_tensor,
)
from fac_engine.sae.formats.hooks import choose_hook_layer
from fac_engine.sae.model import SparseAutoencoder

log = get_logger(__name__)

_TRANSCODERS = ("transcoder", "skip_transcoder", "jumprelu_transcoder", "jumprelu_skip_transcoder")
_PLAIN_NORMALIZATIONS: dict[str, Normalization] = {
    "none": "none",
    "constant_norm_rescale": "constant_norm_rescale",
    "layer_norm": "layer_norm",
}


class _Encoding(NamedTuple):
    """What cfg.json says about the encoder, in SAELens' own terms."""

    architecture: str
    k: int | None
    normalization: Normalization
    input_scale: float
    rescale_acts_by_decoder_norm: bool


def _text(raw: JsonObject, meta: JsonObject, *keys: str) -> str | None:
    """The first string among `keys`, looked up in v6 `metadata` first, then at the top level."""
    for key in keys:
        for place in (meta, raw):
            value = place.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _architecture_and_k(raw: JsonObject, source: Path) -> tuple[str, int | None]:
    architecture = raw.get("architecture") or "standard"
    kwargs = raw.get("activation_fn_kwargs") or {}
    activation_fn = raw.get("activation_fn_str", raw.get("activation_fn")) or "relu"
    kwargs_k = kwargs.get("k") if isinstance(kwargs, dict) else None
    if activation_fn == "topk":
        if kwargs_k is None and raw.get("k") is None:
            raise FacError(f"{source}: activation_fn 'topk' needs activation_fn_kwargs.k, which is missing.")
        architecture = "topk"
    elif activation_fn != "relu":
        raise FacError(f"{source}: activation function {activation_fn!r} is not supported (relu or topk).")
    if architecture in _TRANSCODERS:
        raise FacError(
            f"{source} holds a SAELens {architecture!r}: transcoders read one stream and write another, "
            "so they cannot be used for coverage. Use a sparse autoencoder."
        )
    if architecture not in ("standard", "topk", "jumprelu", "gated"):
        raise FacError(
            f"{source}: SAELens architecture {architecture!r} is not supported (standard, topk, jumprelu, gated)."
        )
    if architecture != "topk":
        return architecture, None
    k = get_optional_int(raw, "k", source)
    if k is None:
        k = get_int(kwargs, "k", source)
    return architecture, k


def _normalization(raw: JsonObject, folder: Path, source: Path) -> tuple[Normalization, float]:
    norm = raw.get("normalize_activations")
    # Pre-6 configs stored a bool: True meant expected_average_only_in (handle_pre_6_0_config).
    if isinstance(norm, bool) or norm is None:
        norm = "expected_average_only_in" if norm else "none"
    if norm in _PLAIN_NORMALIZATIONS:
        return _PLAIN_NORMALIZATIONS[norm], 1.0
    if norm != "expected_average_only_in":
        raise FacError(f"{source}: normalize_activations {norm!r} is not supported.")
    # SAELens estimates sqrt(d_in) / E||x|| during training and folds it into the weights when
    # training ends, then writes "none" (training/sae_trainer.py, fit). A config that still says
    # expected_average_only_in is a checkpoint whose factor lives in activation_scaler.json;
    # at inference SAELens applies no scaling itself, so without that file we cannot know it.
    scaler_path = folder / SAELENS_ACTIVATION_SCALER
    if not scaler_path.is_file():
        raise FacError(
            f"{source} says normalize_activations='expected_average_only_in' but {scaler_path.name} with "
            "the scaling factor is missing. If the factor was folded into the weights (SAELens does so at "
            "the end of training), set normalize_activations to 'none' in cfg.json."
        )
    scaler = read_json(scaler_path)
    if scaler.get("scaling_factor") is None:
        return "none", 1.0  # the trainer sets it to None once it has been folded in
    return "scale", get_float(scaler, "scaling_factor", scaler_path)


def _read_encoding(raw: JsonObject, folder: Path, source: Path) -> _Encoding:
    if raw.get("reshape_activations") == "hook_z":
        raise FacError(f"{source}: SAEs on attention hook_z read per-head outputs, not the residual stream.")
    architecture, k = _architecture_and_k(raw, source)
    normalization, input_scale = _normalization(raw, folder, source)
    rescale = architecture == "topk" and get_bool(raw, "rescale_acts_by_decoder_norm", source, default=False)
    return _Encoding(architecture, k, normalization, input_scale, rescale)


def _gated_as_jumprelu(tensors: dict[str, torch.Tensor], source: Path) -> dict[str, torch.Tensor]:
    """Rewrite a gated SAE as the jumprelu SAE that encodes identically.

    Gated (SAELens gated_sae.py): f = [x'W + b_gate > 0] * relu(x'(W * e^r_mag) + b_mag).
    With W' = W * e^r_mag, b' = b_mag and theta = b_mag - e^r_mag * b_gate, the gate condition
    x'W > -b_gate is pre' = x'W' + b' > theta (e^r_mag > 0), so f = relu(pre') * (pre' > theta).
    """
    scale = take_tensor(tensors, "r_mag", source).double().exp()
    b_mag = take_tensor(tensors, "b_mag", source).double()
    b_gate = take_tensor(tensors, "b_gate", source).double()
    W_enc = take_tensor(tensors, "W_enc", source).double()
    return {
        **tensors,
        "W_enc": W_enc * scale,
        "b_enc": b_mag,
        "threshold": b_mag - scale * b_gate,
    }


def _fold_decoder_norm(tensors: dict[str, torch.Tensor], source: Path) -> dict[str, torch.Tensor]:
    """Fold rescale_acts_by_decoder_norm into the weights (SAELens topk_sae.py, _fold_norm_topk).

    SAELens ranks pre * ||W_dec_i|| and decodes f / ||W_dec_i||; scaling W_enc and b_enc by the
    norms and W_dec by their inverse gives the same codes and reconstructions.
    """
    W_dec = take_tensor(tensors, "W_dec", source).double()
    norms = W_dec.norm(dim=-1)
    return {
        **tensors,
        "W_enc": take_tensor(tensors, "W_enc", source).double() * norms,
        "b_enc": take_tensor(tensors, "b_enc", source).double() * norms,
        # A zero decoder row never fires after the fold (its encoder column is zero too).
        "W_dec": W_dec / norms.clamp_min(1e-12).unsqueeze(-1),
    }


def _internal_tensors(tensors: dict[str, torch.Tensor], encoding: _Encoding, source: Path) -> dict[str, torch.Tensor]:
    if encoding.architecture == "gated":
        tensors = _gated_as_jumprelu(tensors, source)
    if encoding.architecture == "jumprelu" and "threshold" not in tensors and "log_threshold" in tensors:
        # Training checkpoints store log_threshold (SAELens jumprelu_sae.py, JumpReLUTrainingSAE).
        tensors = {**tensors, "threshold": tensors["log_threshold"].double().exp()}
    if encoding.rescale_acts_by_decoder_norm:
        tensors = _fold_decoder_norm(tensors, source)
    if "scaling_factor" in tensors:
        # Pre-6 finetuning scaling factor: multiplies the codes before decoding only
        # (pre-6 sae.py, apply_finetuning_scaling_factor), so it folds into the decoder rows.
        factor = tensors["scaling_factor"].double()
        tensors = {**tensors, "W_dec": take_tensor(tensors, "W_dec", source).double() * factor.unsqueeze(-1)}
    return tensors


def _activation(architecture: str) -> Activation:
    if architecture == "topk":
        return "topk"
    return "relu" if architecture == "standard" else "jumprelu"


def load_saelens_sae(folder: Path, hook_layer: int | None = None) -> SparseAutoencoder:
    """Load a SAELens SAE folder; `hook_layer` overrides the layer its hook name implies."""
    folder = Path(folder)
    cfg_path = folder / SAELENS_CFG
    raw = read_json(cfg_path)
    meta = get_object(raw, "metadata", cfg_path)
    encoding = _read_encoding(raw, folder, cfg_path)
    hook_name = _text(raw, meta, "hook_name", "hook_point")
    fields: dict[str, Any] = {
        "d_in": get_int(raw, "d_in", cfg_path),
        "d_sae": get_int(raw, "d_sae", cfg_path),
        "activation": _activation(encoding.architecture),
        "k": encoding.k,
        "hook_layer": choose_hook_layer(hook_name, hook_layer, cfg_path),
        "apply_b_dec_to_input": get_bool(raw, "apply_b_dec_to_input", cfg_path, default=True),
        "normalization": encoding.normalization,
        "input_scale": encoding.input_scale,
        "model_name": _text(raw, meta, "model_name") or "",
        "source_format": "saelens",
    }
    cfg = make_config(cfg_path, **fields)
    weights_path = folder / SAELENS_WEIGHTS
    tensors = _internal_tensors(read_safetensors(weights_path), encoding, weights_path)
    sae = build_sae(weights_path, cfg, tensors)
    log.info("Loaded SAELens %s SAE from %s (%s -> layer %d)", encoding.architecture, folder, hook_name, cfg.hook_layer)
    return sae
