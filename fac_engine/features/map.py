"""A 2-D map of an SAE's features: UMAP of the decoder directions (cosine), computed once per SAE.

The layout depends only on the decoder weights and the UMAP settings, so it is cached on disk as
`$FAC_HOME/cache/feature_maps/<sae identity>.parquet` (feature, x, y) with the settings in the
file's metadata; a file made with other settings is recomputed. UMAP with a fixed random_state is
deterministic (umap-learn then runs single-threaded).

Cost, measured on a 2-core CPU shared with an SAE training job (umap-learn 0.5.12, random
[N, 576] float32 rows, n_neighbors 15, low_memory, fixed seed): 9,216 features 40 s, 65,536
features 80 s, each including about 8 s of numba compilation paid once per process. UMAP runs
500 layout epochs up to 10,000 points and 200 above, which is why the wide SAE is not 7x slower.
`estimate_seconds` turns this into the message pages show; a cached map is never recomputed.
"""

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.paths import fac_home
from fac_engine.sae.identity import sae_identity
from fac_engine.sae.model import SparseAutoencoder

log = get_logger(__name__)

MapProgress = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], what is happening)."""
METADATA_KEY = b"fac_feature_map"
"""Parquet schema-metadata key holding the settings (JSON) a cached map was computed with."""
ESTIMATE_S_PER_POINT_EPOCH = 6e-6
"""Measured UMAP cost per (point, layout epoch) on the reference CPU, neighbour search included."""
ESTIMATE_COMPILE_S = 10.0
"""numba compilation on the first UMAP of a process."""


@dataclass(frozen=True)
class MapConfig:
    """UMAP settings of the feature map; every field changes the layout, so all are part of the cache check."""

    n_neighbors: int = 15
    """Neighbours in the UMAP graph; 15 keeps 65,536-feature SAEs tractable."""
    min_dist: float = 0.1
    """How tightly UMAP packs neighbouring points."""
    metric: str = "cosine"
    """Distance between decoder rows: their direction matters, not their norm."""
    random_state: int = 42
    """Fixed seed: the same SAE always gets the same map."""
    low_memory: bool = True
    """pynndescent's low-memory mode (needed for very wide SAEs on a laptop)."""

    def __post_init__(self) -> None:
        if self.n_neighbors < 2:
            raise ValueError(f"The map needs n_neighbors >= 2, got {self.n_neighbors}.")
        if not 0.0 <= self.min_dist <= 1.0:
            raise ValueError(f"min_dist must be between 0 and 1, got {self.min_dist}.")


def feature_maps_dir() -> Path:
    """`$FAC_HOME/cache/feature_maps` (not created here)."""
    return fac_home() / "cache" / "feature_maps"


def feature_map_path(identity: str, cache_dir: Path | None = None) -> Path:
    """Where the map of the SAE with this identity is cached."""
    return Path(cache_dir or feature_maps_dir()) / f"{identity}.parquet"


def estimate_seconds(d_sae: int) -> float:
    """Rough UMAP time for this many features on the reference CPU (for progress messages)."""
    epochs = 500 if d_sae <= 10_000 else 200  # umap-learn's default n_epochs
    return ESTIMATE_COMPILE_S + ESTIMATE_S_PER_POINT_EPOCH * d_sae * epochs


def _settings(config: MapConfig, d_sae: int) -> str:
    return json.dumps({**asdict(config), "d_sae": d_sae}, sort_keys=True)


def read_cached_map(path: Path, config: MapConfig, d_sae: int) -> pd.DataFrame | None:
    """The cached map at `path` when it exists and was made with these settings, else None."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        log.warning("Ignoring unreadable feature map %s (%s)", path, exc)
        return None
    stored = (table.schema.metadata or {}).get(METADATA_KEY, b"").decode()
    if stored != _settings(config, d_sae) or table.num_rows != d_sae:
        return None
    return table.to_pandas()


def write_map(path: Path, frame: pd.DataFrame, config: MapConfig) -> None:
    """Write a map atomically with its settings in the parquet metadata."""
    table = pa.table({
        "feature": pa.array(frame["feature"].to_numpy(), pa.int32()),
        "x": pa.array(frame["x"].to_numpy(), pa.float32()),
        "y": pa.array(frame["y"].to_numpy(), pa.float32()),
    }).replace_schema_metadata({METADATA_KEY: _settings(config, len(frame)).encode()})
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def compute_layout(directions_FD: np.ndarray, config: MapConfig) -> np.ndarray:
    """[F, 2] UMAP coordinates of the rows of `directions_FD` (float32)."""
    n = directions_FD.shape[0]
    if n < 3:  # UMAP needs at least two neighbours per point; a line is the honest layout
        return np.stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)], axis=1)
    import umap  # numba compilation on import and first fit: only pay it when a map is computed

    reducer = umap.UMAP(n_neighbors=min(config.n_neighbors, n - 1), min_dist=config.min_dist, metric=config.metric,
                        random_state=config.random_state, low_memory=config.low_memory, n_components=2)
    with warnings.catch_warnings():
        # "n_jobs overridden by random_state" and small-graph notices: expected, not the user's concern.
        warnings.simplefilter("ignore")
        coords = reducer.fit_transform(directions_FD)
    return np.asarray(coords, dtype=np.float32)


def feature_map(
    sae: SparseAutoencoder,
    cache_dir: Path | None = None,
    *,
    config: MapConfig | None = None,
    progress: MapProgress | None = None,
    identity: str | None = None,
) -> pd.DataFrame:
    """DataFrame[feature, x, y]: the UMAP of the SAE's decoder rows, from the disk cache when present.

    `identity` may be passed when the caller already knows `sae_identity(sae)` (hashing a wide
    SAE's weights takes a fraction of a second).
    """
    config = config or MapConfig()
    report = progress or (lambda fraction, message: None)
    d_sae = sae.cfg.d_sae
    path = feature_map_path(identity or sae_identity(sae), cache_dir)
    cached = read_cached_map(path, config, d_sae)
    if cached is not None:
        report(1.0, "Feature map loaded from the cache.")
        return cached
    directions_FD = sae.W_dec.detach().float().cpu().numpy()
    if not np.isfinite(directions_FD).all():
        raise FacError("The SAE's decoder holds NaN or infinite values; its feature map cannot be computed.")
    estimate = estimate_seconds(d_sae)
    report(0.0, f"Computing the UMAP of {d_sae:,} decoder directions (about {estimate:.0f} s, once per SAE)...")
    log.info("Computing the feature map of %d features (dim %d) into %s; expect about %.0f s",
             d_sae, directions_FD.shape[1], path, estimate)
    start = time.perf_counter()
    coords = compute_layout(directions_FD, config)
    frame = pd.DataFrame({"feature": np.arange(d_sae, dtype=np.int32), "x": coords[:, 0], "y": coords[:, 1]})
    write_map(path, frame, config)
    seconds = time.perf_counter() - start
    log.info("Feature map of %d features computed in %.1f s", d_sae, seconds)
    report(1.0, f"Feature map computed in {seconds:.0f} s.")
    return frame
