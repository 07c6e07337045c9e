"""A feature map between two SAE feature spaces (matching.py builds it) and its storage.

Saved as the folder `<workspace>/.matches/<name>/`, written atomically: `pairs.parquet` (one row per
(feature in A, candidate in B)), `features.parquet` (how many bridge samples fire each feature of either
space) and `map.json` (method, parameters, both spaces, the bridge datasets and the hash of the bridge corpus).
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fac_engine.atomic import atomic_dir
from fac_engine.crossmodel.bridge import BridgePair, FeatureSpace
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import check_name

MATCHES = ".matches"
"""Folder of the workspace that holds saved feature maps (a dot name: never taken for a dataset)."""
FORMAT = "fac-studio-feature-map"
FORMAT_VERSION = 1
METHOD = "sample co-activation: Pearson r of pooled g and Jaccard of firing over a bridge corpus, permutation null"
CONFIDENT = 0.5
"""Default confidence from which a pair counts as a confident counterpart (transfer, agreement)."""
PAIRS_FILE, FEATURES_FILE, MAP_FILE = "pairs.parquet", "features.parquet", "map.json"


@dataclass(frozen=True)
class MatchConfig:
    """How features of space A are matched with features of space B (docs/METHOD.md section 6)."""

    top: int = 5
    """Candidates kept per feature of A, best first."""
    shuffles: int = 20
    """K: permutations of B's sample ids for the null (0: no null, the correlation counts as it is)."""
    null_quantile: float = 0.99
    """The null is this quantile of the best correlation a feature reaches against shuffled samples."""
    null_features: int = 64
    """Features of A per support level (firing counts within a factor of 2) whose shuffled best correlations
    make that level's null: all of them when fewer. The null pools them, so a sample is as good and far cheaper."""
    margin_scale: float = 0.1
    """A lead of this much correlation over the runner-up earns a pair full credit for being distinct."""
    min_support: int = 5
    """Bridge samples on which both features must fire for full credit (fewer scale the confidence down)."""
    one_to_one: bool = False
    """Also solve a 1:1 assignment (maximum total correlation over pairs above the null)."""
    seed: int = 0
    """Seed of the shuffles."""
    shuffled_control: bool = False
    """Negative control: shuffle B's sample ids before matching; a sound map then has no confident pairs."""

    def __post_init__(self) -> None:
        if self.top < 1:
            raise ValueError(f"Keep at least one candidate per feature (top >= 1), not {self.top}.")
        if self.shuffles < 0:
            raise ValueError(f"The number of shuffles must be >= 0, not {self.shuffles}.")
        if not (math.isfinite(self.null_quantile) and 0 < self.null_quantile < 1):
            raise ValueError(f"The null quantile must lie in (0, 1), not {self.null_quantile}.")
        if self.null_features < 1:
            raise ValueError(f"The null needs at least one feature per support level, not {self.null_features}.")
        if not (math.isfinite(self.margin_scale) and self.margin_scale > 0):
            raise ValueError(f"The margin scale must be > 0, not {self.margin_scale}.")
        if self.min_support < 1:
            raise ValueError(f"The minimum support must be at least 1 sample, not {self.min_support}.")


PAIR_COLUMNS: dict[str, Any] = {
    "feature_a": np.int32, "feature_b": np.int32, "rank": np.int16, "pearson": np.float32, "jaccard": np.float32,
    "support": np.int32, "margin": np.float32, "null": np.float32, "confidence": np.float32, "mutual": np.bool_,
    "assigned": np.bool_,
}
"""Columns of `MatchPairs` and their dtypes."""


@dataclass(frozen=True, eq=False)
class MatchPairs:
    """Candidate pairs, one row per (feature of A, candidate of B), by A feature then rank."""

    feature_a: np.ndarray
    """int32[P] feature of space A."""
    feature_b: np.ndarray
    """int32[P] candidate feature of space B."""
    rank: np.ndarray
    """int16[P] 1 = the A feature's best candidate (highest r; ties: lower B id)."""
    pearson: np.ndarray
    """float32[P] Pearson r of g_a(x) and g_b(x) over the bridge samples (> 0)."""
    jaccard: np.ndarray
    """float32[P] |both fire| / |either fires| over the bridge samples."""
    support: np.ndarray
    """int32[P] bridge samples on which both fire."""
    margin: np.ndarray
    """float32[P] r minus the best other candidate's r (rank 1: the lead over the runner-up; others <= 0)."""
    null: np.ndarray
    """float32[P] the A feature's permutation null (0 without shuffles)."""
    confidence: np.ndarray
    """float32[P] in [0, 1]: above-null share x distinctness x support (docs/METHOD.md section 6)."""
    mutual: np.ndarray
    """bool[P] mutual nearest neighbours: b is a's best candidate and a is b's best match."""
    assigned: np.ndarray
    """bool[P] chosen by the 1:1 assignment (all False when it was not run)."""

    def __len__(self) -> int:
        return int(self.feature_a.shape[0])

    def take(self, mask: np.ndarray) -> "MatchPairs":
        """The rows where `mask` (bool[P]) holds."""
        return MatchPairs(**{c: getattr(self, c)[mask] for c in PAIR_COLUMNS})

    def best(self) -> "MatchPairs":
        """Each A feature's best candidate (rank 1)."""
        return self.take(self.rank == 1)

    def to_table(self) -> pa.Table:
        """A pyarrow table with PAIR_COLUMNS."""
        return pa.table({c: np.asarray(getattr(self, c), dtype=t) for c, t in PAIR_COLUMNS.items()})

    @classmethod
    def from_table(cls, table: pa.Table) -> "MatchPairs":
        """Inverse of `to_table`."""
        return cls(**{c: table.column(c).to_numpy().astype(t) for c, t in PAIR_COLUMNS.items()})


@dataclass(frozen=True, eq=False)
class FeatureMap:
    """Features of space A matched with features of space B over a bridge corpus."""

    name: str
    """Name it is saved under in `<workspace>/.matches/`."""
    config: MatchConfig
    """The settings used."""
    space_a: FeatureSpace
    """The space matched from."""
    space_b: FeatureSpace
    """The space matched to."""
    bridge: tuple[BridgePair, ...]
    """The bridge datasets (name in A, name in B)."""
    bridge_hash: str
    """sha256 of the bridge corpus (its datasets' hashes and sizes, in order)."""
    n_samples: int
    """Bridge samples."""
    pairs: MatchPairs
    """The candidates."""
    count_a: np.ndarray
    """int64[d_sae A] bridge samples on which each feature of A fires."""
    count_b: np.ndarray
    """int64[d_sae B] bridge samples on which each feature of B fires."""
    seconds: float
    """Wall time of the matching."""
    created: str
    """ISO time the map was made."""

    def meta(self) -> dict[str, Any]:
        """The JSON sidecar: everything but the arrays."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name, "method": METHOD,
                "config": asdict(self.config), "space_a": asdict(self.space_a), "space_b": asdict(self.space_b),
                "bridge": [list(p) for p in self.bridge], "bridge_hash": self.bridge_hash,
                "n_samples": self.n_samples, "pairs": len(self.pairs), "seconds": self.seconds,
                "created": self.created}


def map_folder(workspace_root: Path, name: str) -> Path:
    """`<workspace>/.matches/<name>/`."""
    return Path(workspace_root) / MATCHES / check_name(name)


def _counts_table(count_a: np.ndarray, count_b: np.ndarray) -> pa.Table:
    ids_a, ids_b = np.flatnonzero(count_a), np.flatnonzero(count_b)
    return pa.table({"space": ["a"] * ids_a.size + ["b"] * ids_b.size,
                     "feature": np.concatenate([ids_a, ids_b]).astype(np.int32),
                     "bridge_count": np.concatenate([count_a[ids_a], count_b[ids_b]]).astype(np.int64)})


def save_map(workspace_root: Path, fmap: FeatureMap) -> Path:
    """Write the map's folder atomically (replacing an earlier map of that name); returns the folder."""
    folder = map_folder(workspace_root, fmap.name)
    with atomic_dir(folder) as tmp:
        pq.write_table(fmap.pairs.to_table(), tmp / PAIRS_FILE, compression="zstd")
        pq.write_table(_counts_table(fmap.count_a, fmap.count_b), tmp / FEATURES_FILE, compression="zstd")
        (tmp / MAP_FILE).write_text(json.dumps(fmap.meta(), indent=1) + "\n", encoding="utf-8")
    return folder


def load_map(workspace_root: Path, name: str) -> FeatureMap:
    """A saved map; FacError when it is missing or unreadable."""
    folder = map_folder(workspace_root, name)
    if not (folder / MAP_FILE).is_file():
        known = ", ".join(map_names(workspace_root)) or "none"
        raise FacError(f"No saved feature map {name!r} in {folder.parent} (saved: {known}). Run `fac match` first.")
    try:
        meta = json.loads((folder / MAP_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError("not a FAC Studio feature map")
        space_a, space_b = FeatureSpace(**meta["space_a"]), FeatureSpace(**meta["space_b"])
        counts = pq.read_table(folder / FEATURES_FILE)
        count_a, count_b = np.zeros(space_a.d_sae, np.int64), np.zeros(space_b.d_sae, np.int64)
        for space, feature, n in zip(*(counts.column(c).to_pylist() for c in ("space", "feature", "bridge_count")),
                                     strict=True):
            (count_a if space == "a" else count_b)[feature] = n
        return FeatureMap(name=meta["name"], config=MatchConfig(**meta["config"]), space_a=space_a, space_b=space_b,
                          bridge=tuple(BridgePair(*p) for p in meta["bridge"]), bridge_hash=meta["bridge_hash"],
                          n_samples=int(meta["n_samples"]), pairs=MatchPairs.from_table(pq.read_table(
                              folder / PAIRS_FILE)), count_a=count_a, count_b=count_b,
                          seconds=float(meta["seconds"]), created=meta["created"])
    except (ValueError, KeyError, TypeError, IndexError, OSError, pa.ArrowException) as exc:
        raise FacError(f"{folder} is not a readable feature map ({exc}); run `fac match` again.") from exc


def map_names(workspace_root: Path) -> list[str]:
    """Names of the saved feature maps, sorted."""
    root = Path(workspace_root) / MATCHES
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / MAP_FILE).is_file())
