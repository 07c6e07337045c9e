"""SAELens folders (v6 and pre-6): loaded codes equal the docs/SAE_FORMATS.md formula on the raw arrays."""

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
    assert_clear_of_ties,
    assert_parity,
    encoder_arrays,
    inputs,
    normal,
    ref_jumprelu,
    ref_relu,
    ref_topk,
    saelens_v6_cfg,
    thresholds,
    write_json,
    write_saelens,
)

LN_EPS = 1e-5  # SAELens saes/sae.py, run_time_activation_ln_in(eps=1e-5)


def ref_pre(raw: Arrays, x: np.ndarray, normalize: str = "none", apply_b_dec: bool = True) -> np.ndarray:
    """x' = normalize(x) - b_dec (if applied); pre = x' @ W_enc + b_enc, in float64."""
    x64 = x.astype(np.float64)
    if normalize == "constant_norm_rescale":
        x64 = x64 * np.sqrt(x64.shape[-1]) / np.linalg.norm(x64, axis=-1, keepdims=True)
    elif normalize == "layer_norm":
        centred = x64 - x64.mean(axis=-1, keepdims=True)
        x64 = centred / (centred.std(axis=-1, ddof=1, keepdims=True) + LN_EPS)  # torch.std is unbiased
    if apply_b_dec:
        x64 = x64 - raw["b_dec"]
    return x64 @ raw["W_enc"].astype(np.float64) + raw["b_enc"]


@pytest.mark.parametrize("normalize", ["none", "constant_norm_rescale", "layer_norm"])
def test_v6_standard_relu_each_normalisation(tmp_path: Path, rng: np.random.Generator, normalize: str) -> None:
    raw = encoder_arrays(rng)
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg("standard", normalize_activations=normalize), raw)
    x = inputs(rng, offset=3.0) * 5.0  # offset and scale that normalisation must undo

    sae = load_sae(folder)

    assert detect_format(folder) == "saelens"
    assert (sae.cfg.activation, sae.cfg.normalization, sae.cfg.hook_layer) == ("relu", normalize, 4)
    assert sae.cfg.model_name == "tiny-model" and sae.cfg.source_format == "saelens"
    assert_parity(sae, x, ref_relu(ref_pre(raw, x, normalize)))


def test_v6_topk(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg("topk", k=8, rescale_acts_by_decoder_norm=False), raw)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    assert_clear_of_ties(pre, 8)

    sae = load_sae(folder)

    assert (sae.cfg.activation, sae.cfg.k) == ("topk", 8)
    assert_parity(sae, x, ref_topk(pre, 8))


def test_v6_topk_rescaled_by_decoder_norm_is_folded(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    raw["W_dec"] *= rng.uniform(0.2, 3.0, (D_SAE, 1)).astype(np.float32)  # unequal decoder norms
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg("topk", k=8, rescale_acts_by_decoder_norm=True), raw)
    x = inputs(rng)
    norms = np.linalg.norm(raw["W_dec"].astype(np.float64), axis=-1)
    pre = ref_pre(raw, x) * norms  # SAELens topk_sae.py: hidden_pre * W_dec.norm(dim=-1)
    assert_clear_of_ties(pre, 8)

    sae = load_sae(folder)

    codes = ref_topk(pre, 8)
    assert_parity(sae, x, codes)
    # decode: SAELens divides the codes by the norms before W_dec
    ref_recon = (codes / norms) @ raw["W_dec"].astype(np.float64) + raw["b_dec"]
    recon = sae.decode(torch.from_numpy(codes.astype(np.float32))).detach().double().numpy()
    np.testing.assert_allclose(recon, ref_recon, rtol=1e-5, atol=1e-5)


def test_v6_jumprelu_without_b_dec_on_input(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = {**encoder_arrays(rng), "threshold": thresholds(rng)}
    cfg = saelens_v6_cfg("jumprelu", apply_b_dec_to_input=False)
    folder = write_saelens(tmp_path / "sae", cfg, raw)
    x = inputs(rng)
    pre = ref_pre(raw, x, apply_b_dec=False)
    assert_clear_of_threshold(pre, raw["threshold"])

    sae = load_sae(folder)

    assert (sae.cfg.activation, sae.cfg.apply_b_dec_to_input) == ("jumprelu", False)
    assert_parity(sae, x, ref_jumprelu(pre, raw["threshold"]))


WIDE = 1024
"""Latents of the wide SAEs below, whose L0 is in the hundreds (Gemma Scope-like widths in miniature)."""


@pytest.mark.parametrize("architecture", ["standard", "jumprelu"])
def test_v6_l0_far_above_64_keeps_every_active_feature(tmp_path: Path, rng: np.random.Generator,
                                                       architecture: str) -> None:
    raw = encoder_arrays(rng, d_sae=WIDE)
    raw["b_enc"] += np.float32(0.4)  # most latents sit near firing
    if architecture == "jumprelu":
        raw["threshold"] = thresholds(rng, WIDE)
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg(architecture, d_sae=WIDE), raw)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    ref = ref_jumprelu(pre, raw["threshold"]) if architecture == "jumprelu" else ref_relu(pre)
    l0 = (ref > 0).sum(1)
    assert l0.min() > 200 and l0.max() < WIDE  # well above the old 64-per-token cap
    if architecture == "jumprelu":
        assert_clear_of_threshold(pre, raw["threshold"])

    sae = load_sae(folder)

    assert sae.cfg.max_active is None and sae.cfg.sparse_width is None
    assert_parity(sae, x, ref)


def test_v6_gated_encodes_like_the_gated_formula(tmp_path: Path, rng: np.random.Generator) -> None:
    base = encoder_arrays(rng)
    raw = {
        "W_enc": base["W_enc"],
        "W_dec": base["W_dec"],
        "b_dec": base["b_dec"],
        "b_gate": normal(rng, D_SAE, scale=0.3),
        "b_mag": normal(rng, D_SAE, scale=0.3),
        "r_mag": normal(rng, D_SAE, scale=0.5),
    }
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg("gated"), raw)
    x = inputs(rng)
    x_in = x.astype(np.float64) - raw["b_dec"]
    gate = (x_in @ raw["W_enc"] + raw["b_gate"]) > 0  # SAELens gated_sae.py, GatedSAE.encode
    magnitude = np.maximum(x_in @ (raw["W_enc"] * np.exp(raw["r_mag"].astype(np.float64))) + raw["b_mag"], 0)
    gating_pre = x_in @ raw["W_enc"] + raw["b_gate"]
    assert np.min(np.abs(gating_pre)) > 1e-4

    sae = load_sae(folder)

    assert sae.cfg.activation == "jumprelu"
    assert_parity(sae, x, gate * magnitude)


def test_expected_average_only_in_uses_the_scaler_file(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg(normalize_activations="expected_average_only_in"), raw)
    write_json(folder / "activation_scaler.json", {"scaling_factor": 0.75})
    x = inputs(rng)

    sae = load_sae(folder)

    assert (sae.cfg.normalization, sae.cfg.input_scale) == ("scale", 0.75)
    assert_parity(sae, x, ref_relu(ref_pre(raw, x * np.float32(0.75))))


def test_expected_average_only_in_without_factor_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_saelens(
        tmp_path / "sae", saelens_v6_cfg(normalize_activations="expected_average_only_in"), encoder_arrays(rng)
    )
    with pytest.raises(FacError, match=r"activation_scaler\.json"):
        load_sae(folder)


def _pre6_cfg(**changes: Any) -> dict[str, Any]:
    """A flat pre-6 cfg.json (SAELens 3-5): hook_point + hook_layer, activation_fn_str."""
    cfg: dict[str, Any] = {
        "model_name": "gpt2-small",
        "hook_point": "blocks.5.hook_resid_pre",
        "hook_point_layer": 5,
        "hook_layer": 5,
        "d_in": D_IN,
        "d_sae": D_SAE,
        "dtype": "torch.float32",
        "device": "cpu",
        "activation_fn_str": "relu",
        "apply_b_dec_to_input": True,
        "normalize_activations": False,
        "sae_lens_training_version": "3.12.1",
    }
    cfg.update(changes)
    return cfg


def test_pre6_relu_with_hook_point_spelling(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    folder = write_saelens(tmp_path / "sae", _pre6_cfg(), raw)
    x = inputs(rng)

    sae = load_sae(folder)

    assert (sae.cfg.activation, sae.cfg.hook_layer, sae.cfg.normalization) == ("relu", 5, "none")
    assert sae.cfg.model_name == "gpt2-small"
    assert_parity(sae, x, ref_relu(ref_pre(raw, x)))


def test_pre6_topk_via_activation_fn_kwargs(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    cfg = _pre6_cfg(activation_fn_str="topk", activation_fn_kwargs={"k": 5}, hook_name="blocks.2.hook_resid_post")
    folder = write_saelens(tmp_path / "sae", cfg, raw)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    assert_clear_of_ties(pre, 5)

    sae = load_sae(folder)

    assert (sae.cfg.activation, sae.cfg.k, sae.cfg.hook_layer) == ("topk", 5, 3)
    assert_parity(sae, x, ref_topk(pre, 5))


def test_pre6_finetuning_scaling_factor_only_scales_decoding(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = {**encoder_arrays(rng), "scaling_factor": rng.uniform(0.5, 2.0, D_SAE).astype(np.float32)}
    folder = write_saelens(tmp_path / "sae", _pre6_cfg(finetuning_scaling_factor=True), raw)
    x = inputs(rng)
    codes = ref_relu(ref_pre(raw, x))

    sae = load_sae(folder)

    assert_parity(sae, x, codes)
    ref_recon = (codes * raw["scaling_factor"]) @ raw["W_dec"] + raw["b_dec"]
    recon = sae.decode(torch.from_numpy(codes.astype(np.float32))).detach().double().numpy()
    np.testing.assert_allclose(recon, ref_recon, rtol=1e-5, atol=1e-5)


def test_pre6_jumprelu_with_flat_architecture(tmp_path: Path, rng: np.random.Generator) -> None:
    # SAELens 4-5 wrote `architecture` next to activation_fn_str "relu" (e.g. Gemma Scope conversions).
    raw = {**encoder_arrays(rng), "threshold": thresholds(rng)}
    cfg = _pre6_cfg(architecture="jumprelu", apply_b_dec_to_input=False, sae_lens_training_version="5.3.0")
    folder = write_saelens(tmp_path / "sae", cfg, raw)
    x = inputs(rng)
    pre = ref_pre(raw, x, apply_b_dec=False)
    assert_clear_of_threshold(pre, raw["threshold"])

    sae = load_sae(folder)

    assert (sae.cfg.activation, sae.cfg.hook_layer, sae.cfg.apply_b_dec_to_input) == ("jumprelu", 5, False)
    assert_parity(sae, x, ref_jumprelu(pre, raw["threshold"]))


def test_pre6_normalize_activations_true_needs_the_factor(tmp_path: Path, rng: np.random.Generator) -> None:
    # handle_pre_6_0_config: a boolean True meant expected_average_only_in, False meant none.
    folder = write_saelens(tmp_path / "sae", _pre6_cfg(normalize_activations=True), encoder_arrays(rng))
    with pytest.raises(FacError, match=r"normalize_activations='expected_average_only_in'.*activation_scaler\.json"):
        load_sae(folder)


def test_pre6_topk_without_k_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_saelens(tmp_path / "sae", _pre6_cfg(activation_fn_str="topk"), encoder_arrays(rng))
    with pytest.raises(FacError, match=r"activation_fn 'topk' needs activation_fn_kwargs\.k"):
        load_sae(folder)


def test_pre6_hook_z_by_hook_name_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    # Pre-6 configs had no reshape_activations; SAELens infers hook_z from the hook name.
    folder = write_saelens(tmp_path / "sae", _pre6_cfg(hook_point="blocks.5.attn.hook_z"), encoder_arrays(rng))
    with pytest.raises(FacError, match="not the residual stream"):
        load_sae(folder)


def test_hook_layer_argument_overrides_the_hook_name(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg(), encoder_arrays(rng))
    assert load_sae(folder, hook_layer=7).cfg.hook_layer == 7


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture": "jumprelu_transcoder"}, "transcoder"),
        ({"architecture": "mystery"}, "not supported"),
        ({"activation_fn_str": "tanh-relu"}, "tanh-relu"),
        ({"normalize_activations": "weird"}, "weird"),
        ({"metadata": {"hook_name": "blocks.3.hook_mlp_out"}}, "not the residual stream"),
        ({"metadata": {"hook_name": "blocks.3.attn.hook_z"}, "reshape_activations": "hook_z"}, "hook_z"),
        ({"metadata": {"hook_name": "my_custom_hook"}}, "pass hook_layer"),
        ({"d_sae": D_SAE * 2}, "W_enc"),
        ({"architecture": "topk", "k": D_SAE + 1}, "k"),
    ],
)
def test_refusals_name_the_problem(
    tmp_path: Path, rng: np.random.Generator, changes: dict[str, Any], message: str
) -> None:
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg(**changes), encoder_arrays(rng))
    with pytest.raises(FacError, match=message):
        load_sae(folder)


def test_wrong_tensor_shape_names_tensor_and_file(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    raw["W_dec"] = raw["W_dec"].T.copy()  # stored transposed by mistake
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg(), raw)
    with pytest.raises(FacError, match=r"sae_weights\.safetensors.*'W_dec' has shape \[16, 64\], expected \[64, 16\]"):
        load_sae(folder)


def test_missing_tensor_is_named(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg("jumprelu"), raw)  # no threshold
    with pytest.raises(FacError, match="threshold"):
        load_sae(folder)


def test_corrupt_json_and_safetensors_name_the_file(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_saelens(tmp_path / "sae", saelens_v6_cfg(), encoder_arrays(rng))
    (folder / "sae_weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    with pytest.raises(FacError, match=r"sae_weights\.safetensors.*not a valid safetensors"):
        load_sae(folder)
    (folder / "cfg.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(FacError, match=r"cfg\.json.*not valid JSON"):
        load_sae(folder)


def test_loads_onto_the_requested_device_as_float32(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = {name: a.astype(np.float16) for name, a in encoder_arrays(rng).items()}
    sae = load_sae(write_saelens(tmp_path / "sae", saelens_v6_cfg(dtype="float16"), raw), device="cpu")
    assert sae.dtype == torch.float32 and sae.device.type == "cpu"
    assert torch.equal(sae.W_enc, torch.from_numpy(raw["W_enc"].astype(np.float32)))
