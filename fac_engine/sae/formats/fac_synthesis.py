"""FAC-Synthesis paper checkpoints: a `.pth` holding `{"weight": state_dict, "config": {...}}`.

Reference: Zhongzhi660/FAC-Synthesis, sae_pretrain/autoencoder.py. The state dict holds
W_enc[d_inp, d_hide], b_enc, b_dec and a `mask`; the decoder is tied (W_dec = W_enc.T).
TopKSAE (config has `topK`) encodes h = (x - b_dec) @ W_enc + b_enc, keeps the top K, relu;
the plain SparseAutoencoder (no `topK`) encodes relu((x - b_dec) @ W_enc + b_enc).
`mask` only gates codes when the reference's `do_edit` flag is on (feature editing), so it
is not part of encoding and is ignored here.
"""

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.sae.formats.common import build_sae, get_int, make_config, require_file, take_tensor
from fac_engine.sae.formats.hooks import choose_hook_layer
from fac_engine.sae.model import SparseAutoencoder

log = get_logger(__name__)

# The reference names checkpoints `TopK7_l{layer}_h{hidden}_epoch{e}.pth` and reads the layer
# back from the name (load_pretrained); `layer` counts decoder blocks from 1 (mount_function
# hooks the output of the layer-th block), i.e. model.layers.{layer-1}.
_REFERENCE_NAME = re.compile(r"^(?:topk\d*|sae|ae)_l(\d+)(?:_|$)", re.IGNORECASE)


def _unpickle(path: Path) -> Any:
    require_file(path)
    try:
        with warnings.catch_warnings():
            # torch warns on stderr about pickle protocols newer than its default; the CLI's
            # error must stay one line, and the file is read or refused either way.
            warnings.simplefilter("ignore")
            # weights_only refuses any pickle that would import or call something other than
            # tensors and plain containers: a checkpoint is data and must never run code.
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # The weights_only unpickler cannot tell a payload from damage: it rejects protocol 4+
        # opcodes before reading what they would import, and garbage bytes fail the same way.
        raise FacError(
            f"{path} is damaged or contains code or objects that are not plain tensors; refusing to unpickle it."
        ) from exc
    # A truncated zip or any other non-checkpoint bytes fail in many ways: RuntimeError, EOFError,
    # UnicodeDecodeError, even KeyError (measured on torch 2.13 with a text file).
    except Exception as exc:
        raise FacError(
            f"Cannot read {path}: it is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})."
        ) from exc


def _hook_name_from_file_name(path: Path) -> str | None:
    match = _REFERENCE_NAME.match(path.stem)
    return f"model.layers.{int(match.group(1)) - 1}" if match and int(match.group(1)) > 0 else None


def load_fac_synthesis_sae(path: Path, hook_layer: int | None = None) -> SparseAutoencoder:
    """Load a FAC-Synthesis `.pth`; the layer comes from `hook_layer` or the reference file name."""
    path = Path(path)
    payload = _unpickle(path)
    if not isinstance(payload, dict) or not isinstance(payload.get("weight"), dict):
        raise FacError(f"{path} is not a FAC-Synthesis checkpoint (expected a dict with 'weight' and 'config').")
    config = payload.get("config")
    if not isinstance(config, dict):
        raise FacError(f"{path} lacks the 'config' dict (d_inp, d_hide, topK).")
    state: dict[str, Any] = payload["weight"]
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    top_k = config.get("topK")
    cfg = make_config(
        path,
        d_in=get_int(config, "d_inp", path),
        d_sae=get_int(config, "d_hide", path),
        activation="relu" if top_k is None else "topk",
        k=None if top_k is None else get_int(config, "topK", path),
        hook_layer=choose_hook_layer(_hook_name_from_file_name(path), hook_layer, path),
        apply_b_dec_to_input=True,
        source_format="fac-synthesis",
    )
    W_enc = take_tensor(tensors, "W_enc", path)
    if "mask" in tensors and not bool((tensors["mask"] == 1).all()):
        log.warning("%s has a feature-editing mask; it does not change encoding and is ignored.", path)
    internal = {
        "W_enc": W_enc,
        "b_enc": take_tensor(tensors, "b_enc", path),
        "W_dec": W_enc.T,  # tied decoder (reference: W_dec property returns W_enc.T)
        "b_dec": take_tensor(tensors, "b_dec", path),
    }
    return build_sae(path, cfg, internal)
