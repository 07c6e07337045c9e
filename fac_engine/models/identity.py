"""A stable identity string for a model, so a workspace can refuse activations from another model."""

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fac_engine.errors import FacError

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf")
"""Files whose contents are model weights (transformers shards, legacy pickles, GGUF)."""

# Keys that change with the library version, the load path or the load dtype, not the weights.
_VOLATILE_CONFIG_KEYS = frozenset({"transformers_version", "_name_or_path", "_commit_hash", "dtype", "torch_dtype"})
_SAMPLES = 16
_SAMPLE_BYTES = 64 * 1024


def model_identity(name: str, config: dict[str, Any], weight_files: Iterable[Path]) -> str:
    """`name@hash12` over the config (minus volatile keys) and a fingerprint of every weight file.

    The fingerprint is each file's name, size and 16 evenly spaced 64 KiB samples (the first
    holds the safetensors header), so a fine-tune with the same shapes gets a new identity while
    hashing a multi-GB checkpoint still reads only about 1 MiB per file.
    """
    digest = hashlib.sha256()
    stable = {k: v for k, v in config.items() if k not in _VOLATILE_CONFIG_KEYS}
    digest.update(json.dumps(stable, sort_keys=True, default=str).encode())
    for path in sorted(weight_files, key=lambda p: p.name):
        digest.update(_fingerprint(path))
    return f"{name}@{digest.hexdigest()[:12]}"


def folder_identity(name: str, folder: Path) -> str:
    """Identity of a transformers folder: its config.json and the weight files in it."""
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FacError(f"Cannot read {config_path}: {err}") from err
    weights = [p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file()]
    return model_identity(name, config, weights)


def _fingerprint(path: Path) -> bytes:
    """SHA-256 of a file's name, size and sampled contents (all of it when small)."""
    size = path.stat().st_size
    digest = hashlib.sha256(f"{path.name}:{size}".encode())
    with path.open("rb") as handle:
        if size <= _SAMPLES * _SAMPLE_BYTES:
            digest.update(handle.read())
            return digest.digest()
        step = (size - _SAMPLE_BYTES) // (_SAMPLES - 1)
        for i in range(_SAMPLES):
            handle.seek(i * step)
            digest.update(handle.read(_SAMPLE_BYTES))
    return digest.digest()
