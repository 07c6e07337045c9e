"""OpenMOSS Llama Scope: `hyperparams.json` + `checkpoints/final.safetensors` (lm-saes layout).

Tensors: encoder.weight[d_sae, d_model], encoder.bias, decoder.weight[d_model, d_sae],
decoder.bias. We follow SAELens' Llama Scope loader, written by the Llama Scope authors
(sae_lens/loading/pretrained_sae_loaders.py, get_llama_scope_config_from_hf):
  - dataset-wise norm: the input is scaled by s = sqrt(d_model) / dataset_average_activation_norm.in;
  - jumprelu with the scalar threshold, also multiplied by s. lm-saes (src/lm_saes/sae.py at the
    release, standardize_parameters_of_dataset_activation_scaling) instead divides b_enc by s and
    keeps the threshold, i.e. tests pre / s > threshold: the same mask, codes smaller by s;
  - b_dec is not subtracted from the input (apply_decoder_bias_to_pre_encoder is false in
    every released hyperparams.json; we honour the field when present).
"""

import math
from pathlib import Path

import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.sae.config import Activation, Normalization
from fac_engine.sae.filenames import LLAMA_SCOPE_HYPERPARAMS, LLAMA_SCOPE_WEIGHTS
from fac_engine.sae.formats.common import (
    JsonObject,
    build_sae,
    get_bool,
    get_float,
    get_int,
    get_object,
    get_str,
    make_config,
    read_json,
    read_safetensors,
    take_tensor,
)
from fac_engine.sae.formats.hooks import choose_hook_layer
from fac_engine.sae.model import SparseAutoencoder

log = get_logger(__name__)


def _input_scale(raw: JsonObject, d_model: int, source: Path) -> tuple[Normalization, float]:
    norm = get_str(raw, "norm_activation", source, default="none")
    if norm == "dataset-wise":
        average = get_float(get_object(raw, "dataset_average_activation_norm", source), "in", source)
        if average <= 0:
            raise FacError(f"{source}: dataset_average_activation_norm.in must be positive, got {average}.")
        return "scale", math.sqrt(d_model) / average
    if norm == "token-wise":
        # lm-saes compute_norm_factor: sqrt(d_model) / ||x|| per token, the same as SAELens' rescale.
        return "constant_norm_rescale", 1.0
    if norm in ("none", "inference"):
        return "none", 1.0
    raise FacError(f"{source}: norm_activation {norm!r} is not supported (dataset-wise, token-wise or none).")


def _activation(raw: JsonObject, source: Path) -> tuple[Activation, float]:
    act = get_str(raw, "act_fn", source, default="relu").lower()
    threshold = get_float(raw, "jump_relu_threshold", source, default=0.0)
    # lm-saes from_config turns a topk SAE with a positive threshold into jumprelu for inference;
    # `top_k` is then only the training-time setting.
    if act == "jumprelu" or (act == "topk" and threshold > 0):
        return "jumprelu", threshold
    if act == "relu":
        return "relu", 0.0
    raise FacError(f"{source}: act_fn {act!r} is not supported for Llama Scope SAEs (jumprelu or relu).")


def load_llama_scope_sae(folder: Path, hook_layer: int | None = None) -> SparseAutoencoder:
    """Load a Llama Scope SAE folder; `hook_layer` overrides the layer hook_point_in implies."""
    folder = Path(folder)
    cfg_path = folder / LLAMA_SCOPE_HYPERPARAMS
    raw = read_json(cfg_path)
    hook_in = get_str(raw, "hook_point_in", cfg_path, default="") or None
    hook_out = raw.get("hook_point_out")
    if hook_in and hook_out and hook_out != hook_in:
        raise FacError(
            f"{cfg_path} describes a transcoder ({hook_in} -> {hook_out}), which cannot be used for coverage."
        )
    d_model = get_int(raw, "d_model", cfg_path)
    d_sae = get_int(raw, "d_sae", cfg_path, default=0) or d_model * get_int(raw, "expansion_factor", cfg_path)
    normalization, scale = _input_scale(raw, d_model, cfg_path)
    activation, threshold = _activation(raw, cfg_path)
    cfg = make_config(
        cfg_path,
        d_in=d_model,
        d_sae=d_sae,
        activation=activation,
        hook_layer=choose_hook_layer(hook_in, hook_layer, cfg_path),
        apply_b_dec_to_input=get_bool(raw, "apply_decoder_bias_to_pre_encoder", cfg_path, default=False),
        normalization=normalization,
        input_scale=scale,
        source_format="llama-scope",
    )
    weights_path = folder / LLAMA_SCOPE_WEIGHTS
    raw_tensors = read_safetensors(weights_path)
    use_decoder_bias = get_bool(raw, "use_decoder_bias", cfg_path, default=True)
    tensors = {
        "W_enc": take_tensor(raw_tensors, "encoder.weight", weights_path).T,
        "b_enc": take_tensor(raw_tensors, "encoder.bias", weights_path),
        "W_dec": take_tensor(raw_tensors, "decoder.weight", weights_path).T,
        "b_dec": take_tensor(raw_tensors, "decoder.bias", weights_path) if use_decoder_bias else torch.zeros(d_model),
        # The stored threshold applies to lm-saes' b_enc / s codes; ours are s times larger.
        "threshold": torch.tensor(threshold * scale, dtype=torch.float64),
    }
    sae = build_sae(weights_path, cfg, tensors)
    log.info("Loaded Llama Scope SAE from %s (hook %s -> layer %d)", folder, hook_in, cfg.hook_layer)
    return sae
