"""`fac explain NAME`: explanations of features stored in the project, offline (characteristic tokens)
or, with `--llm`, by a generator in the paper's summarise-then-verify style."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_generator_options, add_model_options, add_workspace_option, workspace_root
from fac_engine.cli.selection import add_feature_selection

if TYPE_CHECKING:
    from fac_engine.workspace.datasets import EncodedDataset
    from fac_engine.workspace.project import Project


def register(sub: Any) -> None:
    """Add the `explain` verb."""
    p = sub.add_parser("explain", help="explain features: by their most characteristic tokens, or with an LLM (--llm)")
    p.add_argument("name", help="encoded dataset whose top samples are read (usually the anchor)")
    p.add_argument("--project", default="default", help="project that stores the explanations")
    p.add_argument("--top-samples", type=int, default=10, help="top activating samples read per feature")
    p.add_argument("--tokens", type=int, default=4, help="offline: tokens listed per explanation")
    p.add_argument("--llm", action="store_true",
                   help="ask a generator for a summary of each feature's top spans, verified by a second prompt; "
                        "unverified summaries are stored as 'Cannot tell'; every active feature unless "
                        "--features or --list says which")
    add_feature_selection(p)
    p.add_argument("--refresh", action="store_true",
                   help="--llm: ask again for features this generator already explained")
    p.add_argument("--window", type=int, default=32, help="--llm: tokens shown before each span's peak token")
    p.add_argument("--batch", type=int, default=8, help="--llm: features per generator call")
    add_model_options(p)
    add_generator_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compute the explanations and store them (a user's own edits are kept)."""
    from fac_engine.errors import FacError
    from fac_engine.features.explain import ExplainConfig, offline_explanations
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

    root = workspace_root(args)
    data = Workspace(root).open(args.name)
    if args.llm:
        return run_llm(args, data, Project(root, args.project))
    if args.features is not None or args.feature_list is not None or args.refresh:
        raise FacError("--features, --list and --refresh go with --llm; offline explanations cover every feature.")
    try:
        cfg = ExplainConfig(top_samples=args.top_samples, tokens=args.tokens)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    explanations = offline_explanations(data, cfg)
    stored = Project(root, args.project).set_explanations(explanations, source=f"offline:{args.name}")
    print(f"explained {len(explanations):,} features of {args.name}; stored {stored:,} in project "
          f"'{args.project}' ({len(explanations) - stored:,} kept the user's own explanation)")
    for feature in sorted(explanations)[:5]:
        print(f"  feature {feature}: {explanations[feature]}")
    return 0


def run_llm(args: argparse.Namespace, data: EncodedDataset, project: Project) -> int:
    """`--llm`: summarise and verify the chosen features (every active one by default)."""
    from tqdm import tqdm

    from fac_engine.cli.common import load_generator
    from fac_engine.cli.selection import selected_features
    from fac_engine.errors import FacError
    from fac_engine.features.explain_llm import CANNOT_TELL, LlmExplainConfig, explain_into_project

    try:
        cfg = LlmExplainConfig(top_spans=args.top_samples, window_before=args.window, features_per_call=args.batch)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    features = selected_features(args, project, data.manifest.d_sae)
    if features is None:
        features = sorted(int(f) for f in data.feature_table("stats").column("feature").to_pylist())
    generator = load_generator(args, None)
    with tqdm(total=len(features), desc=f"explaining with {generator.name}", unit="feature") as bar:
        result = explain_into_project(project, data, generator, features, cfg, refresh=args.refresh,
                                   progress=lambda done, total: bar.update(done - bar.n))
    verified = sum(e.verified for e in result.explained.values())
    print(f"asked {result.source} about {len(result.explained):,} features of {args.name}: {verified:,} verified, "
          f"{len(result.explained) - verified:,} stored as {CANNOT_TELL!r}; stored {result.stored:,} in project "
          f"'{project.name}'")
    skipped = [(result.cached, "already explained by this generator (--refresh asks again)"),
               (result.user_kept, "with the user's own explanation"),
               (result.no_examples, f"that never fire on {args.name}")]
    for ids, why in skipped:
        if ids:
            print(f"  skipped {len(ids):,} features {why}: {_few(ids)}")
    for feature in sorted(result.explained)[:5]:
        print(f"  feature {feature}: {result.explained[feature].text}")
    return 0


def _few(ids: list[int], shown: int = 10) -> str:
    return ", ".join(map(str, ids[:shown])) + (f" (+{len(ids) - shown:,} more)" if len(ids) > shown else "")
