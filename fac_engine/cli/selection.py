"""`--features 1,2,5-9 | --list NAME`: which features a verb works on (explain llm, relevance judge)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fac_engine.coverage.feature_ids import parse_feature_ids
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.workspace.project import Project


def add_feature_selection(parser: argparse.ArgumentParser) -> None:
    """--features and --list (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--features", default=None, help="feature ids, e.g. 3,8,12-15")
    group.add_argument("--list", dest="feature_list", default=None, help="a feature list saved in the project")


def selected_features(args: argparse.Namespace, project: Project, d_sae: int | None = None) -> list[int] | None:
    """The features the options name, or None when neither option is given (the verb's default)."""
    if args.features is not None:
        ids = parse_feature_ids(args.features, d_sae)
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
