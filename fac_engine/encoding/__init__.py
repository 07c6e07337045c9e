"""Dataset -> sparse SAE codes: batching by token budget, pooling over content tokens, feature statistics;
in one process (encode.py) or on a Ray cluster (ray_encode.py), writing the same workspace layout.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.encoding.activations import feature_activations
    from fac_engine.encoding.encode import EncodeConfig
    from fac_engine.encoding.ray_encode import RayConfig, encode_dataset_ray
    from fac_engine.encoding.text_probe import probe_text

_PUBLIC = {
    "EncodeConfig": "encode",
    "RayConfig": "ray_encode",
    "encode_dataset_ray": "ray_encode",
    "feature_activations": "activations",
    "probe_text": "text_probe",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "EncodeConfig",
    "RayConfig",
    "encode_dataset_ray",
    "feature_activations",
    "probe_text",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
