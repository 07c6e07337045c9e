"""What a feature is: queries over encoded datasets, decoder geometry, the UMAP map, explanations, spans.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.features.geometry import (
        LogitEffects,
        NearFeatures,
        decoder_norms,
        logit_effects,
        model_unembedding,
        nearest_features,
    )
    from fac_engine.features.map import estimate_seconds
    from fac_engine.features.queries import FeatureExample, FeatureReport, feature_report, feature_stats_frame

_PUBLIC = {
    "FeatureExample": "queries",
    "FeatureReport": "queries",
    "LogitEffects": "geometry",
    "NearFeatures": "geometry",
    "decoder_norms": "geometry",
    "estimate_seconds": "map",
    "feature_report": "queries",
    "feature_stats_frame": "queries",
    "logit_effects": "geometry",
    "model_unembedding": "geometry",
    "nearest_features": "geometry",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "FeatureExample",
    "FeatureReport",
    "LogitEffects",
    "NearFeatures",
    "decoder_norms",
    "estimate_seconds",
    "feature_report",
    "feature_stats_frame",
    "logit_effects",
    "model_unembedding",
    "nearest_features",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
