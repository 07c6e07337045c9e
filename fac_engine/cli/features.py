"""The feature verbs: `fac features NAME` (per-feature statistics, or one feature's top samples) and
`fac explain offline | llm NAME` (explanations stored in the project: characteristic tokens, or a
generator's summary of the top spans verified by a second prompt, as in the paper)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from fac_engine.cli.common import (
    add_generator_options,
    add_model_options,
    add_project_option,
    add_workspace_option,
    open_project,
    workspace_root,
)
from fac_engine.cli.flags import ConfigFlags, count, positive
from fac_engine.cli.selection import add_feature_selection

if TYPE_CHECKING:
    from fac_engine.features.explain import ExplainConfig
    from fac_engine.features.explain_llm import LlmExplainConfig
    from fac_engine.workspace.datasets import EncodedDataset
    from fac_engine.workspace.project import Project


def add_features(p: argparse.ArgumentParser) -> None:
    """`fac features`."""
    p.add_argument("name", help="encoded dataset name")
    p.add_argument("--feature", type=count, default=None, help="show this feature's statistics and top samples")
    p.add_argument("--top", type=positive, default=None,
                   help="top samples to show (with --feature; default 10) or table rows (default all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run_features)


def _mark(tokens: list[str], acts: list[float], start: int) -> str:
    """The sample's content with each active token followed by [activation]."""
    parts = [f"{t}[{a:.2f}]" if a > 0 else t for t, a in zip(tokens[start:], acts[start:], strict=True)]
    return "".join(parts).replace("\n", " ")


def run_features(args: argparse.Namespace) -> int:
    """Print the table or one feature's report."""
    from fac_engine.features.queries import feature_report, feature_stats_frame
    from fac_engine.workspace.datasets import Workspace

    data = Workspace(workspace_root(args)).open(args.name)
    if args.feature is None:
        frame = feature_stats_frame(data)
        n_features = len(frame)
        # Density: the features a sample activates (max over its content tokens > 0), on average.
        per_sample = float(frame["n_active"].sum()) / max(data.manifest.n_samples, 1)
        if args.top is not None:
            frame = frame.head(args.top)
        if args.json:
            print(json.dumps(frame.to_dict(orient="records")))
        else:
            print(f"{n_features:,} active features of {data.manifest.d_sae:,} in {args.name} "
                  f"({data.manifest.n_samples:,} samples; {per_sample:,.1f} active per sample on average, "
                  f"{per_sample / data.manifest.d_sae:.2%} of the SAE)")
            print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        return 0
    report = feature_report(data, args.feature, top=10 if args.top is None else args.top)
    if args.json:
        print(json.dumps(report.to_json_dict()))
        return 0
    print(f"feature {report.feature}: active on {report.n_active:,} samples ({100 * report.frac_active:.2f}%), "
          f"max {report.max:.3g}, mean {report.mean:.3g}")
    print(f"histogram (equal bins over (0, max]): {report.hist}")
    for e in report.examples:
        label = "" if e.label is None else f" label={e.label}"
        print(f"  [{e.kind} #{e.rank}] sample {e.sample} g={e.value:.3g}{label}: "
              f"{_mark(e.tokens.tokens, e.tokens.activations, e.tokens.content_start)}")
    return 0


def _offline_flags() -> ConfigFlags[ExplainConfig]:
    from fac_engine.features.explain import ExplainConfig

    return ConfigFlags(ExplainConfig)


def _llm_flags() -> ConfigFlags[LlmExplainConfig]:
    from fac_engine.features.explain_llm import LlmExplainConfig

    return ConfigFlags(LlmExplainConfig, title="explanations",
                       names={"top_spans": "top-samples", "window_before": "window", "features_per_call": "batch"})


def _add_explain_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="encoded dataset whose top samples are read (usually the anchor)")
    add_project_option(p, "that stores the explanations (created when new)")
    add_workspace_option(p)


def add_explain_offline(p: argparse.ArgumentParser) -> None:
    """`fac explain offline`."""
    _add_explain_common(p)
    _offline_flags().add(p)
    p.set_defaults(run=run_explain_offline)


def add_explain_llm(p: argparse.ArgumentParser) -> None:
    """`fac explain llm`."""
    _add_explain_common(p)
    add_feature_selection(p)  # default: every feature active on the dataset
    p.add_argument("--refresh", action="store_true", help="ask again for features this generator already explained")
    _llm_flags().add(p)
    add_model_options(p)
    add_generator_options(p)
    p.set_defaults(run=run_explain_llm)


def explain_offline(data: EncodedDataset, project: Project, cfg: ExplainConfig) -> None:
    """Explain every feature of `data` by its characteristic tokens into `project`, and say so."""
    from fac_engine.features.explain import offline_explanations

    name = data.name
    explanations = offline_explanations(data, cfg)
    stored = project.set_explanations(explanations, source=f"offline:{name}")
    print(f"explained {len(explanations):,} features of {name}; stored {stored:,} in project "
          f"'{project.name}' ({len(explanations) - stored:,} kept the user's own explanation)")
    for feature in sorted(explanations)[:5]:
        print(f"  feature {feature}: {explanations[feature]}")


def run_explain_offline(args: argparse.Namespace) -> int:
    """Compute the explanations and store them (a user's own edits are kept)."""
    from fac_engine.workspace.datasets import Workspace

    cfg = _offline_flags().build(args)
    data = Workspace(workspace_root(args)).open(args.name)
    explain_offline(data, open_project(args, create=True), cfg)
    return 0


def run_explain_llm(args: argparse.Namespace) -> int:
    """Summarise and verify the chosen features (every active one by default)."""
    from tqdm import tqdm

    from fac_engine.cli import common
    from fac_engine.cli.selection import selected_features
    from fac_engine.features.explain_llm import CANNOT_TELL, explain_into_project
    from fac_engine.workspace.datasets import Workspace

    cfg = _llm_flags().build(args)
    data = Workspace(workspace_root(args)).open(args.name)
    project = open_project(args, create=True)
    features = selected_features(args, project, data.manifest.d_sae)
    if features is None:
        features = sorted(int(f) for f in data.feature_table("stats").column("feature").to_pylist())
    generator = common.load_generator(args, None)
    with tqdm(total=len(features), desc=f"explaining with {generator.name}", unit="feature") as bar:
        result = explain_into_project(project, data, generator, features, cfg, refresh=args.refresh,
                                      progress=lambda done, total: bar.update(done - bar.n))
    verified = sum(e.verified for e in result.explained.values())
    kept = len(result.kept_earlier)
    kept_note = f", {kept:,} not verified that keep their earlier explanation" if kept else ""
    print(f"asked {result.source} about {len(result.explained):,} features of {args.name}: {verified:,} verified, "
          f"{len(result.explained) - verified - kept:,} stored as {CANNOT_TELL!r}{kept_note}; "
          f"stored {result.stored:,} in project '{project.name}'")
    skipped = [(result.cached, "already explained by this generator (--refresh asks again)"),
               (result.user_kept, "with the user's own explanation"),
               (result.no_examples, f"that never fire on {args.name}")]
    for ids, why in skipped:
        if ids:
            print(f"  skipped {len(ids):,} features {why}: {_few(ids)}")
    for feature in sorted(result.explained)[:5]:
        answer = result.explained[feature]
        unverified = answer.summary != CANNOT_TELL and not answer.verified
        print(f"  feature {feature}: {answer.summary}" + (" (not verified)" if unverified else ""))
    return 0


def _few(ids: list[int], shown: int = 10) -> str:
    return ", ".join(map(str, ids[:shown])) + (f" (+{len(ids) - shown:,} more)" if len(ids) > shown else "")
