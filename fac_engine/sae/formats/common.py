"""Readers shared by every SAE loader: each failure becomes a FacError that names the file."""

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from fac_engine.errors import FacError
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.model import SparseAutoencoder

JsonObject = dict[str, Any]
_MISSING: Any = object()


def require_file(path: Path) -> Path:
    """`path` if it is a file; FacError naming it otherwise."""
    if not path.is_file():
        raise FacError(f"The SAE file {path} is missing.")
    return path


def read_json(path: Path) -> JsonObject:
    """The JSON object in `path`; FacError naming the file if it is missing or not a JSON object."""
    require_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FacError(f"Cannot read {path}: it is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise FacError(f"{path} must hold a JSON object, found {type(data).__name__}.")
    return data


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """All tensors in a safetensors file, on the CPU, in their stored dtype."""
    require_file(path)
    try:
        return load_file(str(path), device="cpu")
    # safetensors raises its own SafetensorError (no shared base class with OSError), and
    # torch may raise RuntimeError on a truncated buffer: every failure means "corrupt file".
    except Exception as exc:
        raise FacError(f"Cannot read {path}: it is not a valid safetensors file ({exc}).") from exc


def take_tensor(tensors: dict[str, torch.Tensor], key: str, source: Path) -> torch.Tensor:
    """`tensors[key]`, or a FacError naming the file, the key and the keys that are there."""
    if key not in tensors:
        present = ", ".join(sorted(tensors)) or "none"
        raise FacError(f"{source} lacks the tensor {key!r} (it holds: {present}).")
    return tensors[key]


def _fetch(cfg: JsonObject, key: str, source: Path, default: Any) -> Any:
    value = cfg.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise FacError(f"{source} lacks the field {key!r}.")
        return default
    return value


def get_int(cfg: JsonObject, key: str, source: Path, default: Any = _MISSING) -> int:
    """An integer field (integral floats accepted, booleans not)."""
    value = _fetch(cfg, key, source, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FacError(f"{source}: field {key!r} must be an integer, found {value!r}.")
    return value


def get_optional_int(cfg: JsonObject, key: str, source: Path) -> int | None:
    """An integer field that may be absent or null."""
    return None if cfg.get(key) is None else get_int(cfg, key, source)


def get_float(cfg: JsonObject, key: str, source: Path, default: Any = _MISSING) -> float:
    """A finite number field."""
    value = _fetch(cfg, key, source, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise FacError(f"{source}: field {key!r} must be a finite number, found {value!r}.")
    return float(value)


def get_str(cfg: JsonObject, key: str, source: Path, default: Any = _MISSING) -> str:
    """A string field."""
    value = _fetch(cfg, key, source, default)
    if not isinstance(value, str):
        raise FacError(f"{source}: field {key!r} must be a string, found {value!r}.")
    return value


def get_bool(cfg: JsonObject, key: str, source: Path, default: Any = _MISSING) -> bool:
    """A true/false field."""
    value = _fetch(cfg, key, source, default)
    if not isinstance(value, bool):
        raise FacError(f"{source}: field {key!r} must be true or false, found {value!r}.")
    return value


def get_object(cfg: JsonObject, key: str, source: Path) -> JsonObject:
    """A nested JSON object field; an absent field reads as an empty object."""
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FacError(f"{source}: field {key!r} must be a JSON object, found {value!r}.")
    return value


def make_config(source: Path, **fields: Any) -> SaeConfig:
    """SaeConfig(**fields), turning its ValueError into a FacError that names `source`."""
    try:
        return SaeConfig(**fields)
    except ValueError as exc:
        raise FacError(f"{source}: {exc}") from exc


def build_sae(source: Path, cfg: SaeConfig, tensors: dict[str, torch.Tensor]) -> SparseAutoencoder:
    """SparseAutoencoder.from_tensors (which checks every shape), its errors prefixed by `source`."""
    try:
        return SparseAutoencoder.from_tensors(cfg, tensors)
    except FacError as exc:
        raise FacError(f"{source}: {exc}") from exc

