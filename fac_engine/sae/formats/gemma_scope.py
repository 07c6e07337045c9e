"""Google DeepMind Gemma Scope: `params.npz` (v1) or `params.safetensors` (Gemma Scope 2).

Tensors W_enc[d_in, d_sae], W_dec[d_sae, d_in], b_enc, b_dec, threshold (v1 spells them
W_enc..., Gemma Scope 2 w_enc...); JumpReLU; b_dec is not subtracted from the input (SAELens
get_gemma_2_config_from_hf and get_gemma_3_config_from_hf set apply_b_dec_to_input False).
v1 has no config: layer and width come from the path (`layer_12/width_16k/average_l0_82`,
the residual stream after block 12). Gemma Scope 2 folders (`resid_post/layer_12_width_16k_l0_big`)
may carry a config.json whose `hf_hook_point_in` (`model.layers.12.output`) names the hook.
"""

import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.sae.filenames import GEMMA_SCOPE_CFG, GEMMA_SCOPE_NPZ, GEMMA_SCOPE_SAFETENSORS
from fac_engine.sae.formats.common import (
    build_sae,
    get_str,
    make_config,
    read_json,
    read_safetensors,
    require_file,
    take_tensor,
)
from fac_engine.sae.formats.hooks import choose_hook_layer
from fac_engine.sae.model import SparseAutoencoder

log = get_logger(__name__)

WIDTHS = {
    "4k": 4096,
    "16k": 16384,
    "32k": 32768,
    "65k": 65536,
    "131k": 131072,
    "262k": 262144,
    "524k": 524288,
    "1m": 1048576,
}
"""Width labels of the released folders (SAELens width_map); they are powers of two, not 1000s."""

_LAYER = re.compile(r"^layer_(\d+)(?:_|$)")
_WIDTH = re.compile(r"(?:^|_)width_([0-9]+[km])(?:_|$)")
_AVERAGE_L0 = re.compile(r"^average_l0_(\d+)$")
"""v1 folders name the SAE's measured L0 (`average_l0_82`): kept as its `l0` metric for `fac info`."""
# Sites other than the residual stream: v1 repo names (gemma-scope-2b-pt-mlp / -att /
# -transcoders) and Gemma Scope 2 site folders (attn_out, mlp_out, transcoder, clt, ...).
_OTHER_REPO = re.compile(r"gemma-scope.*-(?:mlp|att|transcoders?)(?:-|$)")
_OTHER_SITE = re.compile(r"^(?:(?:attn_out|mlp_out|transcoders?|clt|crosscoder)(?:_all)?|embedding)$")
_INTERNAL_NAMES = {"w_enc": "W_enc", "w_dec": "W_dec", "b_enc": "b_enc", "b_dec": "b_dec", "threshold": "threshold"}


def _read_npz(path: Path) -> dict[str, torch.Tensor]:
    require_file(path)
    try:
        # allow_pickle=False: an npz holding object arrays would unpickle arbitrary code.
        with np.load(path, allow_pickle=False) as data:
            return {key: torch.from_numpy(np.array(data[key])) for key in data.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise FacError(f"Cannot read {path}: it is not a valid numpy .npz archive ({exc}).") from exc


def _weights_file(folder: Path) -> Path:
    safetensors_path = folder / GEMMA_SCOPE_SAFETENSORS
    return safetensors_path if safetensors_path.is_file() else folder / GEMMA_SCOPE_NPZ


def _site_hook_name(folder: Path) -> str | None:
    """`blocks.L.hook_resid_post` from the path, refusing paths that name another site."""
    parts = [part.lower() for part in folder.resolve().parts]
    if any(_OTHER_REPO.search(part) or _OTHER_SITE.match(part) for part in parts):
        raise FacError(
            f"{folder} is a Gemma Scope SAE on attention, MLP or embedding outputs, or a transcoder; "
            "FAC Studio reads residual-stream SAEs only."
        )
    for part in reversed(parts):
        if match := _LAYER.match(part):
            return f"blocks.{match.group(1)}.hook_resid_post"
    return None


def _hook_name(folder: Path) -> str | None:
    path_hook = _site_hook_name(folder)
    cfg_path = folder / GEMMA_SCOPE_CFG
    if not cfg_path.is_file():
        return path_hook
    raw = read_json(cfg_path)
    hook_in = get_str(raw, "hf_hook_point_in", cfg_path, default="") or None
    hook_out = raw.get("hf_hook_point_out")
    if hook_in and hook_out and hook_out != hook_in:
        raise FacError(f"{cfg_path} describes a transcoder ({hook_in} -> {hook_out}), which cannot be used.")
    return hook_in or path_hook


def _check_width(folder: Path, d_sae: int, source: Path) -> None:
    for part in reversed(folder.parts):
        if (match := _WIDTH.search(part.lower())) and match.group(1) in WIDTHS:
            if WIDTHS[match.group(1)] != d_sae:
                raise FacError(
                    f"{source}: the folder says width_{match.group(1)} ({WIDTHS[match.group(1)]} latents) "
                    f"but the tensors hold {d_sae} latents."
                )
            return


def _path_metrics(folder: Path) -> dict[str, float]:
    found = [float(m.group(1)) for part in folder.parts if (m := _AVERAGE_L0.match(part.lower()))]
    return {"l0": found[-1]} if found else {}


def load_gemma_scope_sae(folder: Path, hook_layer: int | None = None) -> SparseAutoencoder:
    """Load a Gemma Scope folder (npz or safetensors); `hook_layer` overrides the path's layer."""
    folder = Path(folder)
    weights_path = _weights_file(folder)
    stored = read_safetensors(weights_path) if weights_path.suffix == ".safetensors" else _read_npz(weights_path)
    tensors = {_INTERNAL_NAMES.get(key.lower(), key): value for key, value in stored.items()}
    W_enc = take_tensor(tensors, "W_enc", weights_path)
    if W_enc.dim() != 2:
        raise FacError(f"{weights_path}: W_enc must be a matrix [d_in, d_sae], found shape {list(W_enc.shape)}.")
    d_in, d_sae = (int(size) for size in W_enc.shape)
    _check_width(folder, d_sae, weights_path)
    cfg = make_config(
        weights_path,
        d_in=d_in,
        d_sae=d_sae,
        activation="jumprelu",
        hook_layer=choose_hook_layer(_hook_name(folder), hook_layer, folder),
        apply_b_dec_to_input=False,
        source_format="gemma-scope",
        metrics=_path_metrics(folder),
    )
    sae = build_sae(weights_path, cfg, tensors)
    log.info("Loaded Gemma Scope SAE from %s (layer %d, %d latents)", weights_path, cfg.hook_layer, d_sae)
    return sae
