"""Feature spaces of two SAEs side by side: matching features over a bridge corpus, transferring feature lists,
and the agreement of FAC across models.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.crossmodel.agreement import SaeDecoders, cka_with_null, dataset_pairs, measure_agreement
    from fac_engine.crossmodel.agreement_results import (
        AgreementConfig,
        AgreementResult,
        CkaResult,
        CoverTable,
        SeedAgreement,
        agreement_path,
        load_agreement,
        save_agreement,
    )
    from fac_engine.crossmodel.bridge import Bridge, BridgePair, FeatureSpace, parse_pairs, resolve_bridge
    from fac_engine.crossmodel.matching import match_codes, match_features
    from fac_engine.crossmodel.results import (
        CONFIDENT,
        MAP_FILE,
        FeatureMap,
        MatchConfig,
        MatchPairs,
        load_map,
        map_folder,
        map_names,
        save_map,
    )
    from fac_engine.crossmodel.transfer import (
        PAIR_KINDS,
        MappedFeature,
        PairKind,
        TransferResult,
        UnmappedFeature,
        check_project_space,
        confident_pairs,
        transfer_features,
        write_transfer,
    )

_PUBLIC = {
    "AgreementConfig": "agreement_results",
    "AgreementResult": "agreement_results",
    "Bridge": "bridge",
    "BridgePair": "bridge",
    "CONFIDENT": "results",
    "CkaResult": "agreement_results",
    "CoverTable": "agreement_results",
    "FeatureMap": "results",
    "FeatureSpace": "bridge",
    "MAP_FILE": "results",
    "MappedFeature": "transfer",
    "MatchConfig": "results",
    "MatchPairs": "results",
    "PAIR_KINDS": "transfer",
    "PairKind": "transfer",
    "SaeDecoders": "agreement",
    "SeedAgreement": "agreement_results",
    "TransferResult": "transfer",
    "UnmappedFeature": "transfer",
    "agreement_path": "agreement_results",
    "check_project_space": "transfer",
    "cka_with_null": "agreement",
    "confident_pairs": "transfer",
    "dataset_pairs": "agreement",
    "load_agreement": "agreement_results",
    "load_map": "results",
    "map_folder": "results",
    "map_names": "results",
    "match_codes": "matching",
    "match_features": "matching",
    "measure_agreement": "agreement",
    "parse_pairs": "bridge",
    "resolve_bridge": "bridge",
    "save_agreement": "agreement_results",
    "save_map": "results",
    "transfer_features": "transfer",
    "write_transfer": "transfer",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "CONFIDENT",
    "MAP_FILE",
    "PAIR_KINDS",
    "AgreementConfig",
    "AgreementResult",
    "Bridge",
    "BridgePair",
    "CkaResult",
    "CoverTable",
    "FeatureMap",
    "FeatureSpace",
    "MappedFeature",
    "MatchConfig",
    "MatchPairs",
    "PairKind",
    "SaeDecoders",
    "SeedAgreement",
    "TransferResult",
    "UnmappedFeature",
    "agreement_path",
    "check_project_space",
    "cka_with_null",
    "confident_pairs",
    "dataset_pairs",
    "load_agreement",
    "load_map",
    "map_folder",
    "map_names",
    "match_codes",
    "match_features",
    "measure_agreement",
    "parse_pairs",
    "resolve_bridge",
    "save_agreement",
    "save_map",
    "transfer_features",
    "write_transfer",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
