"""A short content hash of an SAE: the same weights and encoding settings give the same id."""

import hashlib
import json

import torch

from fac_engine.sae.model import SparseAutoencoder

IDENTITY_HEX_CHARS = 16
"""64 bits: collisions are irrelevant at the number of SAEs one workspace sees."""

TOPK_HASHED_MAX_ACTIVE = 64
"""What a topk SAE's identity hashes as its max_active (which cannot change its codes): the old
default, so topk SAEs keep the identity every existing dataset and cache was stored under."""


def _essentials(sae: SparseAutoencoder) -> dict[str, object]:
    """The config fields that change what encode / encode_sparse return.

    Descriptive fields (model_name, source_format, metrics) are left out, so re-labelling an SAE
    or adding training metrics keeps its identity and every cache keyed on it.
    """
    cfg = sae.cfg
    return {
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "activation": cfg.activation,
        "k": cfg.k,
        "hook_layer": cfg.hook_layer,
        "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
        "normalization": cfg.normalization,
        "input_scale": repr(float(cfg.input_scale)),
        "max_active": TOPK_HASHED_MAX_ACTIVE if cfg.activation == "topk" else cfg.max_active,
    }


def sae_identity(sae: SparseAutoencoder) -> str:
    """sha256 over the config essentials and the float32 bytes of every tensor, as short hex.

    Tensors are hashed as float32 on the CPU, so the id does not depend on the device or the
    in-memory dtype and is stable across save_sae / load_fac_sae (which loads float32).
    """
    digest = hashlib.sha256(json.dumps(_essentials(sae), sort_keys=True).encode())
    for name, tensor in sorted(sae.tensors().items()):
        data = tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()
        digest.update(f"{name}:{list(data.shape)}".encode())
        digest.update(data.numpy().tobytes())
    return digest.hexdigest()[:IDENTITY_HEX_CHARS]
