"""Export accepted samples (optionally after the seed) as JSONL, CSV or parquet with provenance columns.

Files load with pandas and with `datasets.load_dataset("json" | "csv" | "parquet", data_files=...)`:
every column has one type (provenance dicts are JSON strings, missing values are nulls). The
sample columns follow the task so `fac encode` reads them back: `text` (queries), `instruction` +
`response`, or `prompt` + `chosen` + `rejected`; plus `label`.
"""

import json
from pathlib import Path
from typing import Literal

import pandas as pd

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.review import DECIDED_KEEP
from fac_engine.workspace.datasets import EncodedDataset

ExportFormat = Literal["jsonl", "csv", "parquet"]
FORMATS: dict[str, ExportFormat] = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
PROVENANCE = ["source", "feature", "step", "g", "threshold", "span", "generator", "sampling", "made", "gen_prompt",
              "x_plus_from_anchor", "candidate_id", "job_id", "edited", "reviewed_by", "reviewed_at"]


def accepted_frame(store: SynthesisStore, job_id: int | None = None) -> pd.DataFrame:
    """The accepted samples with their sample columns, label and provenance (`x_plus_from_anchor`: its step-2
    pair took x+ from the anchor, the step-1 fallback, because no step-1 candidate activated the feature)."""
    accepted = store.candidates(job_id, status=DECIDED_KEEP)
    fallbacks = {(job, f) for job in {c.job_id for c in accepted} for f in store.anchor_fallbacks(job)}
    rows: list[dict[str, object]] = [
        {**c.fields, "label": c.label, "source": "fac-synthesis", "feature": c.feature, "step": c.step, "g": c.g,
         "threshold": c.threshold, "span": c.span, "generator": c.generator, "sampling": json.dumps(c.params),
         "made": c.provenance.to_json(), "gen_prompt": c.prompt,
         "x_plus_from_anchor": (c.job_id, c.feature) in fallbacks, "candidate_id": c.cand_id, "job_id": c.job_id,
         "edited": c.edited, "reviewed_by": c.updated_by, "reviewed_at": c.updated_at}
        for c in accepted]
    return pd.DataFrame(rows, columns=_columns(rows))


def _columns(rows: list[dict[str, object]]) -> list[str]:
    sample = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in PROVENANCE and k != "label"]
    return [*(sample or ["text"]), "label", *PROVENANCE]


def with_seed(accepted: pd.DataFrame, seed: EncodedDataset) -> pd.DataFrame:
    """The seed's samples (text, label; source `seed:<name>`) followed by the accepted ones."""
    table = seed.samples(["text", "label"]).to_pandas()
    table["label"] = table["label"].map(lambda v: None if v is None else str(v))
    table["source"] = f"seed:{seed.name}"
    frame = pd.concat([table, accepted], ignore_index=True)
    return frame[[c for c in accepted.columns if c in frame.columns]]


def export_format(path: Path) -> ExportFormat:
    """The format a file's extension names; FacError for any other extension."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise FacError(f"Cannot export to {path}: use a file ending in .jsonl, .csv or .parquet.")
    return fmt


def write_export(frame: pd.DataFrame, path: Path) -> ExportFormat:
    """Write the frame in the format the file extension names (atomically); returns the format."""
    fmt = export_format(path)
    if frame.empty:
        raise FacError("There are no accepted samples to export yet; accept some in the review queue first.")
    frame = frame.astype({c: "Int64" for c in ("feature", "step", "candidate_id", "job_id") if c in frame})
    with atomic_file(Path(path)) as tmp:
        if fmt == "jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        elif fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return fmt
