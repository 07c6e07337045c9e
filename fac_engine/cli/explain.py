"""`fac explain NAME`: offline explanations (characteristic tokens) for every feature, stored in the project."""

import argparse
from typing import Any

from fac_engine.cli.common import add_workspace_option, workspace_root


def register(sub: Any) -> None:
    """Add the `explain` verb."""
    p = sub.add_parser("explain", help="explain every feature by its most characteristic tokens (no LLM)")
    p.add_argument("name", help="encoded dataset whose top samples are read (usually the anchor)")
    p.add_argument("--project", default="default", help="project that stores the explanations")
    p.add_argument("--top-samples", type=int, default=10, help="top activating samples read per feature")
    p.add_argument("--tokens", type=int, default=4, help="tokens listed per explanation")
    add_workspace_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compute the explanations and store them (a user's own edits are kept)."""
    from fac_engine.errors import FacError
    from fac_engine.explain import ExplainConfig, offline_explanations
    from fac_engine.project import Project
    from fac_engine.store import Workspace

    try:
        cfg = ExplainConfig(top_samples=args.top_samples, tokens=args.tokens)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    root = workspace_root(args)
    data = Workspace(root).open(args.name)
    explanations = offline_explanations(data, cfg)
    stored = Project(root, args.project).set_explanations(explanations, source=f"offline:{args.name}")
    print(f"explained {len(explanations):,} features of {args.name}; stored {stored:,} in project "
          f"'{args.project}' ({len(explanations) - stored:,} kept the user's own explanation)")
    for feature in sorted(explanations)[:5]:
        print(f"  feature {feature}: {explanations[feature]}")
    return 0
