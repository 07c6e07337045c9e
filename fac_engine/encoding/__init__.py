"""Dataset -> sparse SAE codes: batching by token budget, pooling over content tokens, feature statistics.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.encoding.encode import EncodeConfig
    from fac_engine.encoding.text_probe import feature_activations, probe_text

_PUBLIC = {
    "EncodeConfig": "encode",
    "feature_activations": "text_probe",
    "probe_text": "text_probe",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "EncodeConfig",
    "feature_activations",
    "probe_text",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
