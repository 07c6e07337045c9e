"""The on-disk workspace: one folder per encoded dataset, sparse shards, per-feature statistics.

Layout of `<workspace>/<name>/`:

- `manifest.json`: model / SAE identities, layer, dataset hash, t0 policy, versions and the
  encoding status. Only a manifest with status "complete" makes the entry usable.
- `samples/shard-NNNNN.parquet`: one row per sample (its dataset row, text, label, metadata,
  token count, content start t0, truncated tokens, where its tokens start in the token shard).
- `tokens/shard-NNNNN.parquet`: one row per token, in sample then position order: token id
  and the SAE's active features with their values (list<int32>, list<float16>): about 6 bytes
  per (token, active feature) plus the token id.
- `pooled/shard-NNNNN.parquet`: one row per (sample, active feature) after max pooling over
  content tokens: g_i(x) (float32), the position of the max, and the count of active tokens.
  When encoding completes they are merged into one `pooled.parquet` (what coverage reads: one
  file opens faster than hundreds) and the shards are removed.
- `features/stats.parquet`, `features/examples.parquet`: written by `feature_stats`.

A shard counts only when its samples file exists; it is written last, atomically, so an
interrupted encode resumes from the last complete shard.
"""

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fac_engine.atomic import atomic_file, crash_point
from fac_engine.errors import FacError

class PooledArrays(NamedTuple):
    """One dataset's per-sample max-pooled codes: only entries with g_i(x) > 0, one row per (sample, feature)."""

    sample: np.ndarray | None
    """int32[M] sample index of each row (not needed for support statistics, so it may be None)."""
    feature: np.ndarray
    """int32[M] feature id of each row, in [0, d_sae)."""
    value: np.ndarray
    """float32[M] g_i(x) of each row (> 0)."""
    n_samples: int
    """Number of samples in the dataset, including samples with no active feature."""
    d_sae: int
    """Number of SAE latents."""


MANIFEST = "manifest.json"
FORMAT = "fac-studio-workspace"
FORMAT_VERSION = 1
SHARD_KINDS = ("tokens", "pooled", "samples")
ROW_GROUP_ROWS = {"tokens": 4096, "pooled": 1 << 16, "samples": 1 << 14}
"""Parquet row-group sizes: small for tokens, so one sample's rows are read without the whole shard."""
POOLED = "pooled.parquet"
"""All pooled rows of a complete dataset, in sample order."""
VOCAB = "vocab.parquet"
"""Every token id's decoded string, so reading a dataset never needs the tokenizer."""
Status = Literal["encoding", "complete"]
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_NAME_LENGTH = 100
"""Longest dataset name: folder names and their temporary siblings must stay below the 255 bytes file systems allow."""


@dataclass(frozen=True)
class Manifest:
    """What an encoded dataset was made from; two encodings are comparable only if these agree."""

    name: str
    """The dataset's name in the workspace (its folder name)."""
    model: str
    """Model identity (`name@hash`, see models/identity.py)."""
    sae: str
    """SAE identity (a hash of its weights and encoding settings)."""
    sae_path: str
    """Where the SAE was loaded from (informative)."""
    d_sae: int
    """Number of SAE features."""
    layer: int
    """hidden_states index the SAE reads."""
    dataset_path: str
    """The dataset file or folder that was encoded."""
    dataset_hash: str
    """sha256 of the dataset file(s) and the reading options."""
    t0_policy: str
    """How samples were wrapped: "chat-template" or "plain"."""
    max_length: int
    """Context limit in tokens; longer samples were truncated."""
    shard_samples: int
    """Samples per shard."""
    n_samples: int
    """Samples in the dataset (all shards together)."""
    versions: dict[str, str]
    """fac_studio, torch, transformers versions used."""
    status: Status = "encoding"
    """"complete" once every shard and the feature statistics are written."""
    n_tokens: int = 0
    """Tokens encoded (template included), filled in when complete."""
    truncated_samples: int = 0
    """Samples cut at max_length, filled in when complete."""
    dropped_activations: int = 0
    """Activations above zero the SAE's max_active cap left out of the store, filled in when complete
    (0: every active feature of every token is stored)."""
    schema: str = "text"
    """The dataset schema that was read (text, chat, instruction, preference)."""
    label_field: str | None = None
    """The label column, when the dataset has one."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else worth recording (encode seconds, tokens/s...)."""
    pooling: str = "from-t0"
    """Which tokens g_i(x) pools over: "content-tokens" (content only: no role markers, template suffixes or
    special tokens) or "from-t0" (every token from t0 to the end; datasets encoded before the exact policy)."""

    @property
    def n_shards(self) -> int:
        """Number of shards the samples are split into."""
        return max(1, -(-self.n_samples // self.shard_samples))

    def key(self) -> dict[str, Any]:
        """The fields that must match for a resume (everything that changes the shards)."""
        return {k: getattr(self, k) for k in ("model", "sae", "layer", "dataset_hash", "t0_policy", "max_length",
                                               "shard_samples", "n_samples", "pooling")}


def check_name(name: str) -> str:
    """A dataset name is a plain folder name: letters, digits, - _ . (not starting with a dot)."""
    if len(name) > MAX_NAME_LENGTH:
        raise FacError(f"The dataset name is {len(name)} characters long; use at most {MAX_NAME_LENGTH}.")
    if not name or name.startswith(".") or not set(name) <= _NAME_CHARS:
        raise FacError(f"Invalid dataset name {name!r}: use letters, digits, '-', '_' and '.' (not first).")
    return name


class Broken(NamedTuple):
    """A workspace folder that cannot be read as a dataset, and why."""

    name: str
    reason: str


class Workspace:
    """A folder of encoded datasets."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()

    def folder(self, name: str) -> Path:
        """The folder of one dataset (present or not)."""
        return self.root / check_name(name)

    def names(self) -> list[str]:
        """Names of the completely encoded datasets, sorted (damaged ones left out: see `scan`)."""
        return [m.name for m in self.scan()[0]]

    def scan(self) -> tuple[list[Manifest], list[Broken]]:
        """(manifests of the complete datasets, damaged folders), both sorted by name. A damaged folder
        never hides the others; unfinished encodings are in neither list."""
        complete: list[Manifest] = []
        broken: list[Broken] = []
        folders = sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
        for folder in folders:
            try:
                manifest = _read_manifest(folder)
                if manifest is not None and manifest.status == "complete":
                    _check_readable(folder / POOLED, folder.name)
                    complete.append(manifest)
            except FacError as exc:
                broken.append(Broken(folder.name, str(exc)))
        return complete, broken

    def manifest(self, name: str) -> Manifest | None:
        """The manifest of `name`, or None when there is no such entry."""
        return _read_manifest(self.folder(name))

    def open(self, name: str) -> "EncodedDataset":
        """A completely encoded dataset; FacError when it is missing or unfinished."""
        folder = self.folder(name)
        manifest = _read_manifest(folder)
        if manifest is None:
            known = ", ".join(self.names()) or "none"
            raise FacError(f"No encoded dataset {name!r} in {self.root} (encoded: {known}). Run `fac encode` first.")
        if manifest.status != "complete":
            raise FacError(f"Dataset {name!r} in {self.root} is not completely encoded; rerun the same "
                           "`fac encode` command to resume it.")
        return EncodedDataset(folder, manifest)

    def remove(self, name: str) -> None:
        """Delete a dataset's folder."""
        folder = self.folder(name)
        if folder.exists():
            shutil.rmtree(folder)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write manifest.json atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(manifest)}
    with atomic_file(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _read_manifest(folder: Path) -> Manifest | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format", None) != FORMAT:
            raise ValueError("not a FAC Studio workspace manifest")
        data.pop("format_version", None)
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise FacError(f"{path} is corrupt ({exc}); delete the folder {folder} and encode again.") from exc


def _check_readable(path: Path, name: str) -> None:
    """FacError when a parquet file is missing or its footer cannot be read (a truncated file)."""
    _read_parquet(name, path, pq.read_metadata)


def _read_parquet(name: str, path: Path, read: Any, **options: Any) -> Any:
    """`read(path, **options)` with a damaged or missing file reported by dataset and file name."""
    try:
        return read(path, **options)
    except (pa.ArrowException, OSError) as exc:
        raise FacError(f"Dataset {name!r}: {path.name} is damaged or missing ({' '.join(str(exc).split())[:160]}); "
                       "encode it again with --overwrite.") from exc


def check_comparable(a: Manifest, b: Manifest) -> None:
    """Refuse to compare datasets whose g_i(x) mean different things: other model, SAE or layer (other
    features), or other pooling, template or length policy (other tokens pooled)."""
    for what, x, y in (("model", a.model, b.model), ("SAE", a.sae, b.sae), ("layer", a.layer, b.layer)):
        if x != y:
            raise FacError(f"{a.name!r} and {b.name!r} were encoded with different {what}s ({x} vs {y}); "
                           "encode both with the same model, SAE and layer to compare them.")
    for what, x, y in (("pooling policies", a.pooling, b.pooling), ("template policies", a.t0_policy, b.t0_policy),
                       ("length limits", a.max_length, b.max_length)):
        if x != y:
            raise FacError(f"{a.name!r} and {b.name!r} were encoded with different {what} ({x} vs {y}); "
                           "encode both with the same settings (e.g. both with or both without --plain, the same "
                           "--max-length) to compare them.")


def content_flags(tokens: pa.Table, n_tokens: np.ndarray, content_start: np.ndarray) -> np.ndarray:
    """bool[T] per token of a token shard: is it a pooled content token? The stored `content` column, or
    t >= t0 for datasets encoded before it existed (pooling "from-t0")."""
    if "content" in tokens.column_names:
        return tokens.column("content").to_numpy(zero_copy_only=False).astype(bool)
    n_tokens = n_tokens.astype(np.int64)
    start_T = np.repeat(np.cumsum(n_tokens) - n_tokens, n_tokens)
    return (np.arange(int(n_tokens.sum())) - start_T) >= np.repeat(content_start.astype(np.int64), n_tokens)


def shard_path(folder: Path, kind: str, shard: int) -> Path:
    """`<folder>/<kind>/shard-NNNNN.parquet`."""
    return folder / kind / f"shard-{shard:05d}.parquet"


def complete_shards(folder: Path) -> set[int]:
    """Shards whose samples file (written last) exists."""
    samples = folder / "samples"
    if not samples.is_dir():
        return set()
    return {int(p.stem.split("-")[1]) for p in samples.glob("shard-*.parquet")}


def write_shard(folder: Path, shard: int, tables: dict[str, pa.Table]) -> None:
    """Write one shard's three tables, samples last, each atomically."""
    for kind in SHARD_KINDS:
        path = shard_path(folder, kind, shard)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:
            pq.write_table(tables[kind], tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS[kind])


def merge_pooled(folder: Path, n_shards: int) -> pa.Table:
    """Merge the pooled shards into pooled.parquet (atomically), remove them, return the merged table."""
    if (folder / POOLED).is_file():  # merged before an interruption; the shards may be partly deleted
        shutil.rmtree(folder / "pooled", ignore_errors=True)
        return pq.read_table(folder / POOLED)
    table = pa.concat_tables([pq.read_table(shard_path(folder, "pooled", s)) for s in range(n_shards)])
    with atomic_file(folder / POOLED) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20)
    crash_point("encode-merged")
    shutil.rmtree(folder / "pooled")
    return table


def write_vocab(folder: Path, tokens: list[str]) -> None:
    """vocab.parquet: the decoded string of every token id (row i = id i)."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / VOCAB) as tmp:
        pq.write_table(pa.table({"token": pa.array(tokens, pa.string())}), tmp, compression="zstd")


class EncodedDataset:
    """Read access to one completely encoded dataset."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest
        self._vocab: list[str] | None = None

    @property
    def name(self) -> str:
        """The dataset's name."""
        return self.manifest.name

    def _paths(self, kind: str) -> list[Path]:
        return [shard_path(self.folder, kind, s) for s in range(self.manifest.n_shards)]

    def _read(self, path: Path, **options: Any) -> pa.Table:
        table: pa.Table = _read_parquet(self.name, path, pq.read_table, **options)
        return table

    def samples(self, columns: list[str] | None = None) -> pa.Table:
        """The samples table (all shards), in dataset order."""
        return pa.concat_tables([self._read(p, columns=columns) for p in self._paths("samples")])

    def sample_columns(self) -> list[str]:
        """The samples table's column names, from the first shard's schema (no rows read)."""
        schema: pa.Schema = _read_parquet(self.name, shard_path(self.folder, "samples", 0), pq.read_schema)
        return list(schema.names)

    def pooled(self, columns: list[str] | None = None) -> pa.Table:
        """Per-sample max-pooled codes: sample, feature, value, position, active_tokens."""
        return self._read(self.folder / POOLED, columns=columns)

    def pooled_arrays(self, with_samples: bool = False) -> PooledArrays:
        """Every pooled entry as flat arrays (what coverage needs; sample ids only when asked)."""
        columns = ["sample", "feature", "value"] if with_samples else ["feature", "value"]
        table = self.pooled(columns)
        arrays = {c: table.column(c).to_numpy() for c in columns}
        return PooledArrays(arrays.get("sample"), arrays["feature"], arrays["value"], self.manifest.n_samples,
                            self.manifest.d_sae)

    def vocab(self) -> list[str]:
        """Decoded token strings by id (read once per dataset object; callers must not change the list)."""
        if self._vocab is None:
            self._vocab = [str(t) for t in self._read(self.folder / VOCAB).column("token").to_pylist()]
        return self._vocab

    def sample_rows(self, samples: list[int], columns: list[str] | None = None) -> pa.Table:
        """Rows of the samples table for the given sample ids, in the order given."""
        for s in samples:
            if not 0 <= s < self.manifest.n_samples:
                raise FacError(f"Sample {s} is not in dataset {self.name!r} (0..{self.manifest.n_samples - 1}).")
        size = self.manifest.shard_samples
        parts = {shard: self._read(shard_path(self.folder, "samples", shard), columns=columns)
                 for shard in sorted({s // size for s in samples})}
        return pa.concat_tables([parts[s // size].slice(s % size, 1) for s in samples]) if samples else \
            self._read(shard_path(self.folder, "samples", 0), columns=columns).slice(0, 0)

    def sample_tokens(self, samples: list[int]) -> dict[int, pa.Table]:
        """Per-token rows (token_id, features, values) of the given samples, read row group by row group."""
        meta = self.sample_rows(samples, ["sample", "token_start", "n_tokens"])
        size, group = self.manifest.shard_samples, ROW_GROUP_ROWS["tokens"]
        out: dict[int, pa.Table] = {}
        files: dict[int, pq.ParquetFile] = {}
        for s, start, count in zip(*(meta.column(c).to_pylist() for c in ("sample", "token_start", "n_tokens")),
                                   strict=True):
            shard = s // size
            if shard not in files:
                files[shard] = _read_parquet(self.name, shard_path(self.folder, "tokens", shard), pq.ParquetFile)
            file = files[shard]
            first, last = start // group, (start + count - 1) // group
            table = file.read_row_groups(list(range(first, last + 1)))
            out[s] = table.slice(start - first * group, count)
        return out

    def feature_table(self, kind: Literal["stats", "examples"], feature: int | None = None) -> pa.Table:
        """features/stats.parquet or features/examples.parquet, optionally one feature's rows."""
        path = self.folder / "features" / f"{kind}.parquet"
        filters = None if feature is None else [("feature", "=", feature)]
        return self._read(path, filters=filters)
