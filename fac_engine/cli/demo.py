"""`fac demo-data` (the demo toxicity project's anchor, seed and test sets from package data) and `fac demo`
(the ready demo project: demo data built, anchor, seed and test encoded, the project pointed at them).

The demo counts task-relevant features by default: label contrast on the anchor per category (Fisher's exact test with
the false-discovery cut) marks the features of "toxic", coverage and the synthesis target list use them,
and the dashboard's "only task-relevant features" toggle starts on. `fac demo` is idempotent: each step is
skipped when done, so `make demo` starts instantly after the first run; a dataset encoded from other data
or with an older pooling policy is encoded again.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import add_workspace_option, workspace_root

if TYPE_CHECKING:
    from fac_engine.data.corpora.demo import DemoSummary
    from fac_engine.sae.model import SparseAutoencoder
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

DEMO_DATASETS = {"demo-anchor": "anchor", "demo-seed": "seed", "demo-test": "test"}
"""Workspace name -> demo file (the test set is encoded for the evaluation)."""
DEMO_CATEGORY = "category"
"""The demo data's category column (fac_engine/data/corpora/demo.py): relevance is tested per category."""


def add_demo_data(p: argparse.ArgumentParser) -> None:
    """`fac demo-data`."""
    p.add_argument("--out", type=Path, default=None, help="folder (default: <FAC_HOME>/data/demo)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--force", action="store_true", help="rebuild even if the folder holds a complete build")
    p.set_defaults(run=run_demo_data)


def add_demo(p: argparse.ArgumentParser) -> None:
    """`fac demo`."""
    p.add_argument("--sae", default=None,
                   help="SAE of the embedded model to build the demo on (default: the embedded SAE); the demo sets "
                        "are encoded again when they were encoded with another SAE")
    add_workspace_option(p)
    p.set_defaults(run=run_demo)


def demo_data(out: Path | None, seed: int, force: bool) -> DemoSummary:
    """Build (or reuse) the demo data and print what is in it."""
    from fac_engine.data.corpora.demo import build_demo_data, demo_ready, read_demo_summary

    if out is not None:
        check_write_target(out, "--out", folder=True)
    if demo_ready(out, seed=seed) and not force:
        summary = read_demo_summary(out)
        print(f"demo data ready in {summary.out_dir} (seed {summary.seed}; use --force to rebuild)")
    else:
        summary = build_demo_data(out, seed=seed, show_progress=True)
        print(f"wrote the demo data to {summary.out_dir} (seed {summary.seed}) in {summary.seconds or 0:.1f} s")
    print("\n".join(summary_table(summary)))
    return summary


def run_demo_data(args: argparse.Namespace) -> int:
    """`fac demo-data`."""
    demo_data(args.out, args.seed, args.force)
    return 0


def summary_table(summary: DemoSummary) -> list[str]:
    """Rows per label / source / category and set, a total line, and what the seed lacks."""
    from fac_engine.data.corpora.demo_plan import SET_NAMES

    table = [("label", "source", "category", *SET_NAMES)]
    table += [(s.label, s.source, s.category, *(f"{n[name]:,}" for name in SET_NAMES))
              for s, n in summary.counts.items()]
    table.append(("total", "", "", *(f"{summary.rows(name):,}" for name in SET_NAMES)))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    if summary.seed_excluded:
        lines.append("the seed has no toxic rows of: " + ", ".join(map(str, summary.seed_excluded)))
    return lines


def run_demo(args: argparse.Namespace) -> int:
    """Build the demo data, encode each demo set not encoded yet, then set up the default project."""
    from fac_engine.assets import EMBEDDED_SAE_DIR
    from fac_engine.cli.common import load_spec_and_sae
    from fac_engine.cli.encode import encode_with_bar
    from fac_engine.cli.features import explain_offline
    from fac_engine.data.corpora.demo import demo_paths
    from fac_engine.data.dataset import DatasetConfig
    from fac_engine.encoding.encode import EncodeConfig
    from fac_engine.features.explain import ExplainConfig
    from fac_engine.models.spec import ModelSpec
    from fac_engine.models.template import POOLING_POLICY
    from fac_engine.sae.identity import sae_identity
    from fac_engine.sae.load import load_sae
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

    root = workspace_root(args)
    sae_path = _demo_sae(Project(root), args.sae, str(EMBEDDED_SAE_DIR), root)
    demo_data(None, seed=0, force=False)
    paths = demo_paths()
    workspace = Workspace(root)
    demo_sae = load_sae(sae_path)
    identity = sae_identity(demo_sae)
    todo = [name for name in DEMO_DATASETS
            if (m := workspace.manifest(name)) is None or m.status != "complete" or m.pooling != POOLING_POLICY
            or m.sae != identity]
    if todo:  # one model load for every set left
        lm, sae = load_spec_and_sae(ModelSpec(), sae_path, None)
        for name in todo:  # overwrite: the same inputs resume; other data, SAE or policy start again
            encode_with_bar(workspace, getattr(paths, DEMO_DATASETS[name]), lm, sae, sae_path,
                            EncodeConfig(name=name, overwrite=True), DatasetConfig(label_field="label"))
    project = Project(root)
    if project.config.sae != sae_path:  # a project without features of its own yet (checked above)
        project.update(model="embedded", sae=sae_path, layer=None)
    if project.config.anchor is None or project.config.seed is None:  # `both`: docs/RESULTS.md "Steered synthesis"
        project.update(anchor="demo-anchor", seed="demo-seed", synthesis_mode="both")
    if not project.explanations():
        explain_offline(workspace.open("demo-anchor"), project, ExplainConfig())
    demo_feature_map(demo_sae, identity)
    if not project.relevance_marks("contrast"):
        relevant, by = _mark_relevant(workspace, project)
        project.update(relevant_only=True)
        per = f" per {by}" if by else ""
        print(f"marked {len(relevant)} features relevant to 'toxic' by label contrast{per} on demo-anchor; the "
              "dashboard counts only task-relevant features")
    target = project.config.target_list
    if not project.features_in(target):  # ready for the Synthesis page: the seed's missing relevant features
        missing = _missing(workspace, project.config.threshold, project.relevant_features())
        project.add_to_list(target, missing)
        print(f"put the seed's {len(missing)} missing task-relevant features into the synthesis target list "
              f"'{target}'")
    print(f"demo project ready in {root}: anchor demo-anchor, seed demo-seed (project '{project.name}')")
    return 0


def _demo_sae(project: Project, asked: str | None, default: str, root: Path) -> str:
    """The SAE the demo is built on: `asked`, else the project's own once it holds explanations, marks or lists
    (a demo built before the embedded default changed stays on its SAE), else the embedded default. A project
    with features of its own is never moved onto another SAE: its feature numbers would name other features."""
    from fac_engine.errors import FacError

    cfg = project.config
    built = bool(project.explanations() or project.relevance_marks("contrast") or project.features_in(cfg.target_list))
    if asked is None:
        if built and cfg.sae != default:
            print(f"the demo project in {root} is built on the SAE {cfg.sae}; a new workspace (--workspace DIR) "
                  "gets the embedded default")
        return cfg.sae if built else default
    if built and cfg.sae != asked:
        raise FacError(f"The project in {root} is built on the SAE {cfg.sae}; its explanations and feature lists "
                       f"do not apply to {asked}. Build this demo in a new workspace (--workspace DIR), or run "
                       "`fac demo` with the project's own SAE.")
    return asked


def demo_feature_map(sae: SparseAutoencoder, identity: str) -> None:
    """Compute the SAE's feature map once, into the cache the Feature map page reads, so a stakeholder's first
    visit to that page does not wait for UMAP (about a minute on a laptop CPU). `identity` is the SAE's hash
    (fac_engine/sae/identity.py), computed once by the caller."""
    from tqdm import tqdm

    from fac_engine.features.map import MapConfig, feature_map, feature_map_path, read_cached_map

    if read_cached_map(feature_map_path(identity), MapConfig(), sae.cfg.d_sae) is not None:
        return
    with tqdm(total=100, desc=f"feature map of {sae.cfg.d_sae:,} features", unit="%") as bar:
        feature_map(sae, identity=identity,
                    progress=lambda fraction, _message: bar.update(round(100 * fraction) - bar.n))
    print(f"computed the feature map of {sae.cfg.d_sae:,} features into {feature_map_path(identity).parent}")


def _mark_relevant(workspace: Workspace, project: Project) -> tuple[list[int], str | None]:
    """Mark the anchor's features relevant to "toxic"; returns them and the column they were tested per."""
    from fac_engine.relevance.contrast import ContrastConfig, contrast_dataset
    from fac_engine.workspace.project import RELEVANT

    anchor = workspace.open("demo-anchor")
    # Per category when the anchor has one (the demo data does): docs/RESULTS.md, session 11, measured it.
    by = DEMO_CATEGORY if DEMO_CATEGORY in anchor.sample_columns() else None
    result = contrast_dataset(anchor, ContrastConfig("toxic", by=by), project.config.threshold)
    project.set_relevance_marks("contrast", {int(f): RELEVANT for f in result.features})
    return [int(f) for f in result.features], by


def _missing(workspace: Workspace, threshold: float, relevant: frozenset[int] = frozenset()) -> list[int]:
    """The seed's missing features (among `relevant`, when it holds any)."""
    from fac_engine.coverage.fac import CoverageConfig, compute_coverage, feature_support

    seed, anchor = (feature_support(workspace.open(n).pooled_arrays(), threshold) for n in ("demo-seed", "demo-anchor"))
    return compute_coverage(seed, anchor, CoverageConfig(threshold=threshold, relevant=relevant or None)).missing
