"""OpenMOSS Llama Scope folders (hyperparams.json + checkpoints/final.safetensors): parity and refusals.

Reference encode for a dataset-wise normalised SAE, s = sqrt(d_model) / avg_norm_in:
pre = (s * x) @ encoder.weight.T + encoder.bias; f = relu(pre) * (pre > s * jump_relu_threshold).
The threshold is scaled with the input, as in SAELens' Llama Scope loader (get_llama_scope_config_from_hf,
"fix abnormally large llamascope L0", written by the Llama Scope authors). lm-saes itself (sae.py at the
release, standardize_parameters_of_dataset_activation_scaling) encodes x @ W.T + b / s against the raw
threshold: the same mask with codes smaller by s; test_codes_are_lm_saes_codes_times_s checks that too.
"""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.load import detect_format, load_sae
from tests.unit.sae.conftest import (
    D_IN,
    D_SAE,
    Arrays,
    assert_clear_of_threshold,
    assert_parity,
    inputs,
    normal,
    ref_jumprelu,
    ref_relu,
    write_json,
    write_safetensors,
)

AVG_NORM_IN = 8.0
THRESHOLD = 0.5
SCALE = math.sqrt(D_IN) / AVG_NORM_IN  # 0.5


def llama_scope_arrays(rng: np.random.Generator, d_model: int = D_IN, d_sae: int = D_SAE) -> Arrays:
    """nn.Linear layouts: encoder.weight[d_sae, d_model], decoder.weight[d_model, d_sae], and biases."""
    return {
        "encoder.weight": normal(rng, d_sae, d_model, scale=d_model**-0.5),
        "encoder.bias": normal(rng, d_sae, scale=0.3),
        "decoder.weight": normal(rng, d_model, d_sae, scale=d_model**-0.5),
        "decoder.bias": normal(rng, d_model, scale=0.3),
    }


def llama_scope_hyperparams(**changes: Any) -> dict[str, Any]:
    """hyperparams.json of a released residual-stream SAE (fnlp/Llama3_1-8B-Base-LXR-8x), shrunk."""
    cfg: dict[str, Any] = {
        "d_model": D_IN,
        "expansion_factor": D_SAE // D_IN,
        "d_sae": D_SAE,
        "hook_point_in": "blocks.3.hook_resid_post",
        "hook_point_out": "blocks.3.hook_resid_post",
        "use_decoder_bias": True,
        "apply_decoder_bias_to_pre_encoder": False,
        "norm_activation": "dataset-wise",
        "dataset_average_activation_norm": {"in": AVG_NORM_IN, "out": AVG_NORM_IN},
        "act_fn": "jumprelu",
        "jump_relu_threshold": THRESHOLD,
        "top_k": 50,
        "sparsity_include_decoder_norm": True,
        "use_glu_encoder": False,
    }
    cfg.update(changes)
    return cfg


def write_llama_scope(folder: Path, cfg: dict[str, Any], arrays: Arrays) -> Path:
    write_json(folder / "hyperparams.json", cfg)
    write_safetensors(folder / "checkpoints" / "final.safetensors", arrays)
    return folder


def ref_pre(raw: Arrays, x: np.ndarray, scale: float = SCALE, subtract_b_dec: bool = False) -> np.ndarray:
    """(scale * x [- decoder.bias]) @ encoder.weight.T + encoder.bias, in float64."""
    x64 = x.astype(np.float64) * scale
    if subtract_b_dec:
        x64 = x64 - raw["decoder.bias"]
    return x64 @ raw["encoder.weight"].astype(np.float64).T + raw["encoder.bias"]


def test_dataset_wise_jumprelu_parity(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = llama_scope_arrays(rng)
    folder = write_llama_scope(tmp_path / "Llama3_1-8B-Base-L3R-8x", llama_scope_hyperparams(), raw)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    assert_clear_of_threshold(pre, THRESHOLD * SCALE)

    sae = load_sae(folder)

    assert detect_format(folder) == "llama-scope"
    assert (sae.cfg.activation, sae.cfg.hook_layer, sae.cfg.apply_b_dec_to_input) == ("jumprelu", 4, False)
    assert (sae.cfg.normalization, sae.cfg.input_scale) == ("scale", SCALE)
    assert sae.cfg.source_format == "llama-scope"
    assert sae.threshold.tolist() == [THRESHOLD * SCALE] * D_SAE
    codes = ref_jumprelu(pre, THRESHOLD * SCALE)
    assert_parity(sae, x, codes)
    recon = sae.decode(torch.from_numpy(codes.astype(np.float32))).detach().double().numpy()
    ref_recon = codes @ raw["decoder.weight"].astype(np.float64).T + raw["decoder.bias"]
    np.testing.assert_allclose(recon, ref_recon, rtol=1e-5, atol=1e-5)


def test_codes_are_lm_saes_codes_times_s(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = llama_scope_arrays(rng)
    sae = load_sae(write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(), raw))
    x = inputs(rng)
    # lm-saes inference mode: encoder.bias / s, no input scaling, raw threshold.
    lm_saes_pre = x.astype(np.float64) @ raw["encoder.weight"].astype(np.float64).T + raw["encoder.bias"] / SCALE
    lm_saes_codes = np.where(lm_saes_pre > THRESHOLD, lm_saes_pre, 0.0)
    assert_clear_of_threshold(lm_saes_pre, THRESHOLD)
    assert_parity(sae, x, lm_saes_codes * SCALE)


def test_topk_with_threshold_is_jumprelu_at_inference(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = llama_scope_arrays(rng)
    folder = write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(act_fn="topk"), raw)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    assert_clear_of_threshold(pre, THRESHOLD * SCALE)

    sae = load_sae(folder)

    assert sae.cfg.activation == "jumprelu"
    assert_parity(sae, x, ref_jumprelu(pre, THRESHOLD * SCALE))


def test_token_wise_norm_with_decoder_bias_on_input(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = llama_scope_arrays(rng)
    cfg = llama_scope_hyperparams(norm_activation="token-wise", apply_decoder_bias_to_pre_encoder=True)
    folder = write_llama_scope(tmp_path / "sae", cfg, raw)
    x = inputs(rng) * 3.0
    norms = np.linalg.norm(x.astype(np.float64), axis=-1, keepdims=True)
    x_rescaled = x.astype(np.float64) * math.sqrt(D_IN) / norms  # lm-saes compute_norm_factor, token-wise
    pre = ref_pre(raw, x_rescaled, scale=1.0, subtract_b_dec=True)
    assert_clear_of_threshold(pre, THRESHOLD)

    sae = load_sae(folder)

    assert (sae.cfg.normalization, sae.cfg.apply_b_dec_to_input) == ("constant_norm_rescale", True)
    assert_parity(sae, x, ref_jumprelu(pre, THRESHOLD))


def test_relu_without_decoder_bias_or_d_sae(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = llama_scope_arrays(rng)
    del raw["decoder.bias"]
    cfg = llama_scope_hyperparams(act_fn="relu", norm_activation="none", use_decoder_bias=False, d_sae=None)
    folder = write_llama_scope(tmp_path / "sae", cfg, raw)
    x = inputs(rng)

    sae = load_sae(folder)

    assert (sae.cfg.activation, sae.cfg.d_sae, sae.cfg.normalization) == ("relu", D_SAE, "none")
    assert sae.b_dec.tolist() == [0.0] * D_IN
    assert_parity(sae, x, ref_relu(ref_pre(raw, x, scale=1.0)))


def test_hook_layer_argument_overrides_hook_point_in(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(), llama_scope_arrays(rng))
    assert load_sae(folder, hook_layer=1).cfg.hook_layer == 1


# Shape errors and refusals.


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ("encoder.weight", r"'W_enc' has shape \[64, 16\], expected \[16, 64\]"),
        ("decoder.weight", r"'W_dec' has shape \[16, 64\], expected \[64, 16\]"),
    ],
)
def test_transposed_tensor_is_refused(tmp_path: Path, rng: np.random.Generator, tensor: str, message: str) -> None:
    raw = llama_scope_arrays(rng)
    raw[tensor] = raw[tensor].T.copy()
    folder = write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(), raw)
    with pytest.raises(FacError, match=r"final\.safetensors: SAE tensor " + message):
        load_sae(folder)


def test_d_sae_disagreeing_with_tensors_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(d_sae=128), llama_scope_arrays(rng))
    with pytest.raises(FacError, match=r"'W_enc' has shape \[16, 64\], expected \[16, 128\]"):
        load_sae(folder)


def test_d_model_disagreeing_with_tensors_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = llama_scope_arrays(rng, d_model=D_IN * 2)
    folder = write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(), raw)
    with pytest.raises(FacError, match=r"'W_enc' has shape \[32, 64\], expected \[16, 64\]"):
        load_sae(folder)


def test_missing_tensor_is_named(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = llama_scope_arrays(rng)
    del raw["encoder.bias"]
    folder = write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(), raw)
    with pytest.raises(FacError, match=r"lacks the tensor 'encoder\.bias' \(it holds: decoder\.bias, decoder"):
        load_sae(folder)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hook_point_out": "blocks.3.hook_mlp_out"}, "describes a transcoder"),
        ({"hook_point_in": "blocks.3.hook_attn_out", "hook_point_out": None}, "not the residual stream"),
        ({"norm_activation": "batch-wise"}, "norm_activation 'batch-wise' is not supported"),
        ({"dataset_average_activation_norm": None}, "lacks the field 'in'"),
        ({"dataset_average_activation_norm": {"in": 0.0}}, "must be positive, got 0.0"),
        ({"act_fn": "topk", "jump_relu_threshold": 0.0}, "act_fn 'topk' is not supported"),
        ({"d_model": "16"}, "'d_model' must be an integer"),
    ],
)
def test_refusals_name_the_problem(
    tmp_path: Path, rng: np.random.Generator, changes: dict[str, Any], message: str
) -> None:
    folder = write_llama_scope(tmp_path / "sae", llama_scope_hyperparams(**changes), llama_scope_arrays(rng))
    with pytest.raises(FacError, match=message):
        load_sae(folder)
