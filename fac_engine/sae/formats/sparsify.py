"""EleutherAI sparsify: one folder per hookpoint (`layers.N/cfg.json` + `sae.safetensors`).

Encode (sparsify/sparse_coder.py, SparseCoder.encode and fused_encoder.py): x' = x - b_dec
unless transcoding; pre = relu(x' @ encoder.weight.T + encoder.bias); keep the top k. W_dec is
stored [d_sae, d_in] already, so only the encoder is transposed. SAELens' own converter
transposes W_dec and ties apply_b_dec_to_input to normalize_decoder; we follow sparsify's code.
"""

import re
from pathlib import Path

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.sae.filenames import SPARSIFY_CFG, SPARSIFY_WEIGHTS
from fac_engine.sae.formats.common import (
    build_sae,
    get_bool,
    get_int,
    get_str,
    make_config,
    read_json,
    read_safetensors,
    take_tensor,
)
from fac_engine.sae.formats.fac import is_fac_config
from fac_engine.sae.formats.hooks import HOOK_LAYER_HINT, choose_hook_layer, hidden_state_index
from fac_engine.sae.model import SparseAutoencoder

log = get_logger(__name__)


def is_sparsify_folder(folder: Path) -> bool:
    """Whether `folder` holds one sparsify hookpoint (and is not a FAC Studio folder)."""
    cfg_path = folder / SPARSIFY_CFG
    if not (cfg_path.is_file() and (folder / SPARSIFY_WEIGHTS).is_file()):
        return False
    return not is_fac_config(read_json(cfg_path))


def _natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def sparsify_layer_folders(folder: Path) -> list[Path]:
    """The hookpoint sub-folders of a sparsify run folder, in natural order (layers.2 < layers.10)."""
    if not folder.is_dir():
        return []
    return sorted((sub for sub in folder.iterdir() if sub.is_dir() and is_sparsify_folder(sub)), key=_natural_key)


def _implied_layer(folder: Path) -> int | None:
    try:
        return hidden_state_index(folder.name)
    except FacError:
        return None


def _describe(folders: list[Path]) -> str:
    parts = []
    for sub in folders:
        layer = _implied_layer(sub)
        parts.append(f"{sub.name} (hook_layer={layer})" if layer is not None else sub.name)
    return ", ".join(parts)


def _choose_folder(parent: Path, hook_layer: int | None) -> Path:
    folders = sparsify_layer_folders(parent)
    if not folders:
        raise FacError(f"{parent} holds no sparsify hookpoint folders ({SPARSIFY_CFG} + {SPARSIFY_WEIGHTS}).")
    if hook_layer is None:
        if len(folders) == 1:
            return folders[0]
        raise FacError(f"{parent} holds SAEs for several hookpoints: {_describe(folders)}; {HOOK_LAYER_HINT}.")
    matches = [sub for sub in folders if _implied_layer(sub) == hook_layer]
    if not matches:
        raise FacError(f"{parent} has no SAE for hook_layer={hook_layer}; it holds {_describe(folders)}.")
    return matches[0]


def _load_hookpoint(folder: Path, hook_layer: int | None) -> SparseAutoencoder:
    cfg_path = folder / SPARSIFY_CFG
    raw = read_json(cfg_path)
    if get_bool(raw, "transcode", cfg_path, default=False):
        raise FacError(
            f"{cfg_path} describes a transcoder (it predicts one module's output from its input), "
            "which cannot be used for coverage. Use a sparse autoencoder."
        )
    activation = get_str(raw, "activation", cfg_path, default="topk")
    if activation != "topk":
        raise FacError(f"{cfg_path}: sparsify activation {activation!r} is not supported yet (only topk).")
    weights_path = folder / SPARSIFY_WEIGHTS
    raw_tensors = read_safetensors(weights_path)
    if get_bool(raw, "skip_connection", cfg_path, default=False) or "W_skip" in raw_tensors:
        raise FacError(f"{cfg_path}: sparse coders with a skip connection (W_skip) are not supported.")
    d_in = get_int(raw, "d_in", cfg_path)
    # num_latents 0 means d_in * expansion_factor (sparsify/config.py, SparseCoderConfig).
    d_sae = get_int(raw, "num_latents", cfg_path, default=0) or d_in * get_int(raw, "expansion_factor", cfg_path)
    cfg = make_config(
        cfg_path,
        d_in=d_in,
        d_sae=d_sae,
        activation="topk",
        k=get_int(raw, "k", cfg_path),
        hook_layer=choose_hook_layer(folder.name, hook_layer, cfg_path),
        apply_b_dec_to_input=True,
        source_format="sparsify",
    )
    tensors = {
        "W_enc": take_tensor(raw_tensors, "encoder.weight", weights_path).T,
        "b_enc": take_tensor(raw_tensors, "encoder.bias", weights_path),
        "W_dec": take_tensor(raw_tensors, "W_dec", weights_path),
        "b_dec": take_tensor(raw_tensors, "b_dec", weights_path),
    }
    sae = build_sae(weights_path, cfg, tensors)
    log.info("Loaded sparsify SAE %s (layer %d, k=%d)", folder, cfg.hook_layer, cfg.k)
    return sae


def load_sparsify_sae(path: Path, hook_layer: int | None = None) -> SparseAutoencoder:
    """Load one sparsify hookpoint folder, or pick one from a run folder holding several.

    In a run folder `hook_layer` chooses the hookpoint (layers.N is hook_layer N+1); with one
    hookpoint folder it overrides the layer the folder name implies.
    """
    path = Path(path)
    if is_sparsify_folder(path):
        return _load_hookpoint(path, hook_layer)
    return _load_hookpoint(_choose_folder(path, hook_layer), None)
