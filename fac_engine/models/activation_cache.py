"""Harvested activations kept on disk (safetensors), reused while what produced them is unchanged."""

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from fac_engine.atomic import atomic_file
from fac_engine.log import get_logger

log = get_logger(__name__)

TENSOR_NAME = "activations"
"""Name of the single [N, D] tensor in a cache file."""


def read_cached(path: Path, key: Mapping[str, str]) -> torch.Tensor | None:
    """The cached tensor when `path` holds one made under exactly `key`; None otherwise (absent, stale, corrupt)."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            if dict(f.metadata() or {}) != dict(key):
                log.info("%s was made from other inputs; harvesting again", path)
                return None
            tensor: torch.Tensor = f.get_tensor(TENSOR_NAME)
            return tensor
    except (SafetensorError, OSError, KeyError) as exc:
        log.warning("ignoring unreadable activation cache %s: %s", path, exc)
        return None


def cached_activations(path: Path, key: Mapping[str, str], make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Load `path` if it was made under `key`, else call `make()` and store its result there atomically.

    `key` describes everything the activations depend on (model identity, layer, data file,
    token count...); any difference means the cache is stale and is rebuilt.
    """
    cached = read_cached(path, key)
    if cached is not None:
        log.info("reusing %d cached activations from %s", cached.shape[0], path)
        return cached
    tensor = make()
    with atomic_file(path) as tmp:
        save_file({TENSOR_NAME: tensor.contiguous()}, str(tmp), metadata=dict(key))
    return tensor
