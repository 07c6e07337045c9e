"""Read the texts of a data file (JSONL, CSV, parquet, text lines, a saved dataset folder) as plain strings."""

from pathlib import Path

from fac_engine.data.dataset import DatasetConfig, read_dataset


def read_texts(path: Path, text_field: str | None = "text") -> list[str]:
    """Non-empty texts of `text_field` (one line per text for .txt files; None: detect the schema).

    Chat, instruction and preference rows give their messages as `role: content` lines.
    """
    return [item.text for item in read_dataset(path, DatasetConfig(text_field=text_field)).items]
