"""`--features 1,2,5-9 | --list NAME`: which features a verb works on (explain --llm, relevance --judge)."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.project import Project


def add_feature_selection(parser: argparse.ArgumentParser) -> None:
    """--features and --list (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--features", default=None, help="feature ids, e.g. 3,8,12-15")
    group.add_argument("--list", dest="feature_list", default=None, help="a feature list saved in the project")


def parse_ids(text: str, d_sae: int | None = None) -> list[int]:
    """Feature ids from '3, 8 12-15' (ranges inclusive), sorted and unique; FacError names the first bad item."""
    ids: set[int] = set()
    for item in re.split(r"[\s,;]+", text.strip()):
        if not item:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not match:
            raise FacError(f"{item!r} is not a feature id or a range like 10-20.")
        first, last = int(match[1]), int(match[2] or match[1])
        if first > last or (d_sae is not None and last >= d_sae):
            raise FacError(f"{item!r} is out of range" + (f": this SAE has features 0..{d_sae - 1}." if d_sae
                                                           else "."))
        ids.update(range(first, last + 1))
    return sorted(ids)


def selected_features(args: argparse.Namespace, project: Project, d_sae: int | None = None) -> list[int] | None:
    """The features the options name, or None when neither option is given (the verb's default)."""
    if args.features is not None:
        ids = parse_ids(args.features, d_sae)
        if not ids:
            raise FacError("--features names no feature id.")
        return ids
    if args.feature_list is not None:
        ids = project.features_in(args.feature_list)
        if not ids:
            raise FacError(f"Project '{project.name}' has no feature list {args.feature_list!r} (or it is empty); "
                           f"its lists: {', '.join(project.list_names()) or 'none'}.")
        return ids
    return None
