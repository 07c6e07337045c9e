"""Read a column of texts from a JSONL, CSV, parquet or plain-text file."""

from pathlib import Path

import pandas as pd

from fac_engine.errors import FacError


def read_texts(path: Path, text_field: str = "text") -> list[str]:
    """Non-empty texts of `text_field` (one line per text for .txt files)."""
    path = Path(path)
    if not path.is_file():
        raise FacError(f"No such data file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()
        return [line for line in lines if line.strip()]
    readers = {".parquet": pd.read_parquet, ".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True)}
    if suffix not in readers:
        raise FacError(f"{path}: unsupported file type {suffix!r}; use .jsonl, .csv, .parquet or .txt.")
    try:
        frame = readers[suffix](path)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise FacError(f"{path}: could not read it as {suffix[1:]}: {exc}") from exc
    if text_field not in frame.columns:
        raise FacError(f"{path}: no column {text_field!r}; columns are {', '.join(map(str, frame.columns))}.")
    return [str(t) for t in frame[text_field].dropna() if str(t).strip()]
