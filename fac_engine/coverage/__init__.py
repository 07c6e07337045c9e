"""Feature Activation Coverage and its variants, label slices, missing features, text diversity, feature-id lists.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.coverage.diversity import DiversityResult, text_diversity
    from fac_engine.coverage.fac import (
        CoverageConfig,
        CoverageResult,
        FeatureSupport,
        PooledArrays,
        compute_coverage,
        feature_support,
    )
    from fac_engine.coverage.feature_ids import parse_feature_ids
    from fac_engine.coverage.missing import MissingFilter, filter_missing, label_names, missing_frame
    from fac_engine.coverage.relevant_ids import read_relevant_file, write_relevant_ids
    from fac_engine.coverage.slices import (
        SEPARATOR,
        FeatureGroups,
        LabelCodes,
        SliceCounts,
        cluster_groups,
        frequency_groups,
        label_codes,
        label_slices,
        stack_slices,
        top_features,
        whole_slice,
    )

_PUBLIC = {
    "CoverageConfig": "fac",
    "CoverageResult": "fac",
    "DiversityResult": "diversity",
    "FeatureGroups": "slices",
    "FeatureSupport": "fac",
    "LabelCodes": "slices",
    "MissingFilter": "missing",
    "PooledArrays": "fac",
    "SEPARATOR": "slices",
    "SliceCounts": "slices",
    "cluster_groups": "slices",
    "compute_coverage": "fac",
    "feature_support": "fac",
    "filter_missing": "missing",
    "frequency_groups": "slices",
    "label_codes": "slices",
    "label_names": "missing",
    "label_slices": "slices",
    "missing_frame": "missing",
    "parse_feature_ids": "feature_ids",
    "read_relevant_file": "relevant_ids",
    "stack_slices": "slices",
    "text_diversity": "diversity",
    "top_features": "slices",
    "whole_slice": "slices",
    "write_relevant_ids": "relevant_ids",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "SEPARATOR",
    "CoverageConfig",
    "CoverageResult",
    "DiversityResult",
    "FeatureGroups",
    "FeatureSupport",
    "LabelCodes",
    "MissingFilter",
    "PooledArrays",
    "SliceCounts",
    "cluster_groups",
    "compute_coverage",
    "feature_support",
    "filter_missing",
    "frequency_groups",
    "label_codes",
    "label_names",
    "label_slices",
    "missing_frame",
    "parse_feature_ids",
    "read_relevant_file",
    "stack_slices",
    "text_diversity",
    "top_features",
    "whole_slice",
    "write_relevant_ids",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
