"""FAC Studio's own SAE folder: `cfg.json` (the whole SaeConfig) + `sae.safetensors`.

The tensors are stored in the internal layout (W_enc[d_in, d_sae], b_enc, W_dec[d_sae, d_in],
b_dec, and threshold for jumprelu), so save -> load round-trips exactly. A tied SAE (W_enc =
W_dec^T exactly, as the paper trains them) stores W_dec only and says `"tied": true` (format
version 2): half the file.
"""

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from fac_engine.atomic import atomic_dir
from fac_engine.errors import FacError
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.filenames import FAC_CFG, FAC_WEIGHTS
from fac_engine.sae.formats.common import (
    JsonObject,
    build_sae,
    get_bool,
    get_float,
    get_int,
    get_object,
    get_optional_int,
    get_str,
    make_config,
    read_json,
    read_safetensors,
)
from fac_engine.sae.model import SparseAutoencoder

FORMAT_NAME = "fac-studio-sae"
"""Value of `format` in cfg.json; tells our folder apart from sparsify's (same file names)."""
FORMAT_VERSION = 2
"""Newest version this code reads and writes: 2 added tied weights; untied folders are still written as 1."""
SAVE_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def is_fac_config(cfg: JsonObject) -> bool:
    """Whether a parsed cfg.json was written by save_sae."""
    return cfg.get("format") == FORMAT_NAME


def _config_to_json(cfg: SaeConfig, dtype: torch.dtype, tied: bool) -> JsonObject:
    return {
        "format": FORMAT_NAME,
        "format_version": 2 if tied else 1,
        "tied": tied,
        "activation": cfg.activation,
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "k": cfg.k,
        "hook_layer": cfg.hook_layer,
        "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
        "normalization": cfg.normalization,
        "input_scale": cfg.input_scale,
        "max_active": cfg.max_active,
        "model_name": cfg.model_name,
        "source_format": cfg.source_format,
        "metrics": dict(cfg.metrics),
        "dtype": str(dtype).removeprefix("torch."),
    }


def is_tied(sae: SparseAutoencoder) -> bool:
    """Whether W_enc is exactly W_dec transposed."""
    return bool(torch.equal(sae.W_enc.detach(), sae.W_dec.detach().t()))


def save_sae(sae: SparseAutoencoder, folder: Path, dtype: torch.dtype = torch.float32) -> None:
    """Write `sae` to `folder` (replaced atomically): cfg.json + sae.safetensors in `dtype`.

    A tied SAE is stored without W_enc (it is W_dec^T, also after the cast to `dtype`).
    """
    if dtype not in SAVE_DTYPES:
        raise ValueError(f"SAE weights are saved as a float dtype, got {dtype}.")
    tied = is_tied(sae)
    tensors = {name: t.to(device="cpu", dtype=dtype).contiguous() for name, t in sae.tensors().items()
               if not (tied and name == "W_enc")}
    text = json.dumps(_config_to_json(sae.cfg, dtype, tied), indent=2, sort_keys=True)
    with atomic_dir(Path(folder)) as tmp:
        save_file(tensors, str(tmp / FAC_WEIGHTS), metadata={"format": FORMAT_NAME})
        (tmp / FAC_CFG).write_text(text + "\n", encoding="utf-8")


def _metrics(raw: JsonObject, source: Path) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in raw.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise FacError(f"{source}: metric {key!r} must be a number, found {value!r}.")
        metrics[key] = float(value)
    return metrics


def _config_from_json(raw: JsonObject, source: Path) -> SaeConfig:
    version = get_int(raw, "format_version", source)
    if version > FORMAT_VERSION:
        raise FacError(
            f"{source} was written by a newer FAC Studio (format version {version}; this one reads "
            f"up to {FORMAT_VERSION}). Update FAC Studio to load it."
        )
    fields: dict[str, Any] = {
        "activation": get_str(raw, "activation", source),
        "d_in": get_int(raw, "d_in", source),
        "d_sae": get_int(raw, "d_sae", source),
        "k": get_optional_int(raw, "k", source),
        "hook_layer": get_int(raw, "hook_layer", source),
        "apply_b_dec_to_input": get_bool(raw, "apply_b_dec_to_input", source),
        "normalization": get_str(raw, "normalization", source),
        "input_scale": get_float(raw, "input_scale", source),
        "max_active": get_optional_int(raw, "max_active", source),
        "model_name": get_str(raw, "model_name", source, default=""),
        "source_format": get_str(raw, "source_format", source, default="fac"),
        "metrics": _metrics(get_object(raw, "metrics", source), source),
    }
    return make_config(source, **fields)


def load_fac_sae(folder: Path) -> SparseAutoencoder:
    """Load a folder written by save_sae; float32 parameters whatever the stored dtype."""
    folder = Path(folder)
    cfg_path = folder / FAC_CFG
    raw = read_json(cfg_path)
    if not is_fac_config(raw):
        raise FacError(f"{cfg_path} is not a FAC Studio SAE config (its 'format' is not {FORMAT_NAME!r}).")
    cfg = _config_from_json(raw, cfg_path)
    weights = folder / FAC_WEIGHTS
    tensors = read_safetensors(weights)
    if get_bool(raw, "tied", cfg_path, default=False):
        if "W_dec" not in tensors:
            raise FacError(f"{weights} is a tied SAE without the tensor 'W_dec'.")
        tensors["W_enc"] = tensors["W_dec"].t()
    return build_sae(weights, cfg, tensors)
