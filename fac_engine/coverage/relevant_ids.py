"""Relevant-feature files: the one format every verb writes and reads (`fac relevance contrast --out`,
`fac relevance export-relevant`, `fac coverage --relevant`, `fac evaluate --relevant`).

A text file of feature ids (one per line, or separated by commas / spaces, ranges like 10-20 as a
person types them, `#` comments) or a JSON list of ids.
"""

import json
import re
from collections.abc import Iterable
from pathlib import Path

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError


def write_relevant_ids(path: Path, features: Iterable[int], notes: Iterable[str]) -> None:
    """One feature id per line after `# note` header lines (what `read_relevant_file` reads back)."""
    lines = [f"# {note}" for note in notes] + [str(int(f)) for f in features]
    with atomic_file(Path(path)) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_relevant_file(path: Path | str, d_sae: int) -> frozenset[int]:
    """Relevant feature ids from a text file (ids or ranges like 10-20, one per line or comma/space separated,
    `#` comments) or a JSON list.

    Every id must be an integer in [0, d_sae); a bad one raises FacError naming its line (text)
    or position (JSON).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FacError(f"Cannot read the relevant-features file {path}: {err}") from err
    ids = _parse_json_ids(text, path, d_sae) if text.lstrip().startswith("[") else _parse_text_ids(text, path, d_sae)
    if not ids:
        raise FacError(f"The relevant-features file {path} lists no feature ids.")
    return frozenset(ids)


def _parse_text_ids(text: str, path: Path, d_sae: int) -> list[int]:
    """Ids from text lines; `#` starts a comment; commas and whitespace separate ids."""
    ids: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            if not token:
                continue
            where = f"{path} line {number}"
            span = re.fullmatch(r"(\d+)-(\d+)", token)
            if span:  # a range, as `parse_feature_ids` (what people type) accepts
                first, last = _checked_id(int(span[1]), d_sae, where), _checked_id(int(span[2]), d_sae, where)
                if first > last:
                    raise FacError(f"{where}: {token!r} is an empty range.")
                ids.extend(range(first, last + 1))
                continue
            if not re.fullmatch(r"[+-]?\d+", token):
                raise FacError(f"{where}: {token!r} is not an integer feature id or a range like 10-20.")
            ids.append(_checked_id(int(token), d_sae, where))
    return ids


def _parse_json_ids(text: str, path: Path, d_sae: int) -> list[int]:
    """Ids from a JSON list of integers."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise FacError(f"{path} line {err.lineno}: not valid JSON ({err.msg}).") from err
    if not isinstance(items, list):
        raise FacError(f"{path} must hold a JSON list of feature ids.")
    ids: list[int] = []
    for position, item in enumerate(items):
        where = f"{path} item {position} of the JSON list"
        if not isinstance(item, int) or isinstance(item, bool):
            raise FacError(f"{where}: {item!r} is not an integer feature id.")
        ids.append(_checked_id(item, d_sae, where))
    return ids


def _checked_id(feature: int, d_sae: int, where: str) -> int:
    """The id itself, or a FacError when it is not a latent of this SAE."""
    if not 0 <= feature < d_sae:
        raise FacError(f"{where}: feature id {feature} is out of range; the SAE has {d_sae} latents (0..{d_sae - 1}).")
    return feature
