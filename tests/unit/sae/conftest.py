"""Helpers for the SAE format tests: random weights laid out on disk the way each library
writes them, numpy float64 reference activations written from docs/SAE_FORMATS.md, and the
parity assertion every format test shares."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from fac_engine.sae.model import SparseAutoencoder, SparseCodes

D_IN = 16
D_SAE = 64
N_ROWS = 48

Arrays = dict[str, np.ndarray]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    """float32 N(0, scale^2) samples (what the libraries store)."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def inputs(rng: np.random.Generator, d_in: int = D_IN, n: int = N_ROWS, offset: float = 0.0) -> np.ndarray:
    """Random residual vectors [n, d_in]; `offset` shifts every coordinate (tests layer_norm)."""
    return normal(rng, n, d_in) + np.float32(offset)


def encoder_arrays(rng: np.random.Generator, d_in: int = D_IN, d_sae: int = D_SAE) -> Arrays:
    """W_enc[d_in, d_sae], b_enc, W_dec[d_sae, d_in], b_dec scaled so pre-activations are O(1)."""
    return {
        "W_enc": normal(rng, d_in, d_sae, scale=d_in**-0.5),
        "b_enc": normal(rng, d_sae, scale=0.3),
        "W_dec": normal(rng, d_sae, d_in, scale=d_in**-0.5),
        "b_dec": normal(rng, d_in, scale=0.3),
    }


def thresholds(rng: np.random.Generator, d_sae: int = D_SAE) -> np.ndarray:
    return rng.uniform(0.1, 0.6, d_sae).astype(np.float32)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload), encoding="utf-8")


def write_safetensors(path: Path, arrays: Arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: np.ascontiguousarray(a) for name, a in arrays.items()}, str(path))


def write_saelens(folder: Path, cfg: dict[str, Any], arrays: Arrays) -> Path:
    write_json(folder / "cfg.json", cfg)
    write_safetensors(folder / "sae_weights.safetensors", arrays)
    return folder


def saelens_v6_cfg(architecture: str = "standard", **changes: Any) -> dict[str, Any]:
    """A v6 cfg.json as SAELens 6 writes it (hook name and version inside `metadata`)."""
    cfg: dict[str, Any] = {
        "d_in": D_IN,
        "d_sae": D_SAE,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "architecture": architecture,
        "metadata": {
            "model_name": "tiny-model",
            "hook_name": "blocks.3.hook_resid_post",
            "hook_head_index": None,
            "context_size": 128,
            "prepend_bos": True,
            "sae_lens_version": "6.5.0",
            "sae_lens_training_version": "6.5.0",
        },
    }
    cfg.update(changes)
    return cfg


def write_sparsify(folder: Path, cfg: dict[str, Any], arrays: Arrays) -> Path:
    write_json(folder / "cfg.json", cfg)
    write_safetensors(folder / "sae.safetensors", arrays)
    return folder


def sparsify_cfg(**changes: Any) -> dict[str, Any]:
    """cfg.json as sparsify's SparseCoder.save_to_disk writes it."""
    cfg: dict[str, Any] = {
        "activation": "topk",
        "expansion_factor": 4,
        "normalize_decoder": True,
        "num_latents": D_SAE,
        "k": 6,
        "multi_topk": False,
        "skip_connection": False,
        "transcode": False,
        "d_in": D_IN,
    }
    cfg.update(changes)
    return cfg


def sparsify_arrays(rng: np.random.Generator, d_in: int = D_IN, d_sae: int = D_SAE) -> Arrays:
    """encoder.weight[d_sae, d_in] (nn.Linear layout), encoder.bias, W_dec[d_sae, d_in], b_dec."""
    return {
        "encoder.weight": normal(rng, d_sae, d_in, scale=d_in**-0.5),
        "encoder.bias": normal(rng, d_sae, scale=0.3),
        "W_dec": normal(rng, d_sae, d_in, scale=d_in**-0.5),
        "b_dec": normal(rng, d_in, scale=0.3),
    }


# Reference activations in numpy float64, written from docs/SAE_FORMATS.md.


def ref_relu(pre: np.ndarray) -> np.ndarray:
    return np.maximum(pre, 0.0)


def ref_jumprelu(pre: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    return np.maximum(pre, 0.0) * (pre > threshold)


def ref_topk(pre: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest pre-activations per row, relu them, zero the rest."""
    out = np.zeros_like(pre)
    top = np.argsort(-pre, axis=-1, kind="stable")[:, :k]
    rows = np.arange(pre.shape[0])[:, None]
    out[rows, top] = np.maximum(pre[rows, top], 0.0)
    return out


def assert_clear_of_ties(pre: np.ndarray, k: int, margin: float = 2e-6) -> None:
    """The k-th and (k+1)-th pre-activations differ, so top-k sets are well defined."""
    ordered = -np.sort(-pre, axis=-1)
    assert np.min(ordered[:, k - 1] - ordered[:, k]) > margin


def assert_clear_of_threshold(pre: np.ndarray, threshold: np.ndarray | float, margin: float = 2e-6) -> None:
    """No pre-activation sits on the threshold, and the threshold zeroes some positive ones."""
    assert np.min(np.abs(pre - threshold)) > margin
    assert np.any((pre > 0) & (pre <= threshold)), "the threshold should matter in this test"


def assert_parity(sae: SparseAutoencoder, x: np.ndarray, ref_codes: np.ndarray) -> None:
    """Dense codes agree to 1e-5 relative; sparse codes hold every (index, value) pair above zero of the
    reference, sorted, on the fp32 path and on the bf16-selection path alike."""
    x_t = torch.from_numpy(np.ascontiguousarray(x))
    dense = sae.encode(x_t).detach().double().numpy()
    scale = float(np.abs(ref_codes).max())
    assert scale > 0 and np.count_nonzero(ref_codes) > 0
    np.testing.assert_allclose(dense, ref_codes, rtol=1e-5, atol=1e-5 * scale)
    for select in (None, torch.bfloat16):
        assert_sparse_match(sae.encode_sparse(x_t, select_dtype=select), ref_codes, sae.cfg.k)


def assert_sparse_match(codes: SparseCodes, ref_codes: np.ndarray, k: int | None) -> None:
    """`codes` hold exactly the reference's entries above zero; a row is as wide as k or the most active row."""
    scale = float(np.abs(ref_codes).max())
    width = k if k is not None else int((ref_codes > 0).sum(1).max())
    assert tuple(codes.values.shape) == (ref_codes.shape[0], width) == tuple(codes.indices.shape)
    assert codes.dropped is not None and int(codes.dropped.sum()) == 0
    values = codes.values.double().numpy()
    assert np.all(np.diff(values, axis=1) <= 0), "sparse values must be sorted descending"
    active = values > 0
    rows = np.broadcast_to(np.arange(values.shape[0])[:, None], values.shape)
    rebuilt = np.zeros_like(ref_codes, dtype=np.float64)
    rebuilt[rows[active], codes.indices.numpy()[active]] = values[active]
    assert np.count_nonzero(rebuilt) == np.count_nonzero(active), "a latent appears twice in a row"
    np.testing.assert_array_equal(rebuilt > 0, ref_codes > 0, err_msg="active indices differ")
    np.testing.assert_allclose(rebuilt, ref_codes, rtol=1e-5, atol=1e-5 * scale)
