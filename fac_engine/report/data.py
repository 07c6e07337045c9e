"""What the stakeholder report shows, gathered from the workspace, and its figures.

`collect` gathers everything from the workspace (the project's anchor and seed, the accepted
synthetic samples, a saved evaluation, the settings behind them), and `report_figures` draws the figures;
fac_engine/report/build.py renders them into one self-contained HTML file (fac_engine/report/html.py).

The figures are the app's own pure builders (fac_engine/figures/coverage.py, fac_engine/figures/evaluation.py:
neither imports streamlit), so the report shows exactly what the pages show.
"""

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fac_engine.coverage.fac import CoverageConfig, FeatureSupport, feature_support
from fac_engine.coverage.slices import FeatureGroups, stack_slices, top_features, whole_slice
from fac_engine.errors import FacError
from fac_engine.evaluation.results import EVALUATIONS, EvalResult, load_evaluation
from fac_engine.figures.coverage import coverage_heatmap, fac_bars
from fac_engine.figures.evaluation import diversity_figure, fac_auprc_figure
from fac_engine.log import get_logger
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.export import accepted_frame
from fac_engine.synthesis.review import (
    DECIDED_KEEP,
    LiveCoverage,
    combined_support,
    live_coverage,
    pooled_of_candidates,
)
from fac_engine.workspace.datasets import Manifest, Workspace, check_comparable
from fac_engine.workspace.project import Project, ProjectConfig

log = get_logger(__name__)

HEATMAP_FEATURES = 300
"""Most heatmap columns: the seed's missing features first (most frequent in the anchor first), then the
anchor's most frequent covered ones."""
AFTER_NAME = "seed + accepted"
"""Row / bar name of the seed with the accepted synthetic samples added."""


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from the workspace."""

    project: ProjectConfig
    """The project's settings (anchor, seed, delta, model, SAE)."""
    anchor: Manifest
    """How the anchor was encoded (model and SAE identity, layer)."""
    seed: Manifest
    """How the seed was encoded."""
    coverage: LiveCoverage
    """FAC of the seed, and of the seed + the accepted samples, against the anchor."""
    anchor_support: FeatureSupport
    """Per-feature support of the anchor at delta (orders the missing features)."""
    after_support: FeatureSupport
    """Per-feature support of the seed + the accepted samples at delta."""
    seed_support: FeatureSupport
    """Per-feature support of the seed at delta."""
    explanations: dict[int, str]
    """Feature explanations of the project."""
    accepted: pd.DataFrame
    """The accepted synthetic samples with provenance (synthesis/export.py accepted_frame)."""
    jobs: dict[int, dict[str, Any]]
    """Settings of each synthesis job, by job id, newest first."""
    evaluation: EvalResult | None
    """The saved evaluation shown, None when there is none."""
    workspace: Path
    """The workspace folder."""
    created: str
    """ISO time the report was made."""

    @property
    def missing_order(self) -> np.ndarray:
        """The seed's missing features, most frequent in the anchor first (ties by id)."""
        missing = np.asarray(self.coverage.before.missing, dtype=np.int64)
        return missing[np.lexsort((missing, -self.anchor_support.count[missing]))] if missing.size else missing

    @property
    def filled(self) -> set[int]:
        """Missing features of the seed that the accepted samples activate."""
        return set(self.coverage.before.missing) - set(self.coverage.after.missing)


def latest_evaluation(workspace_root: Path, anchor: str | None = None) -> str | None:
    """Name of the most recently saved evaluation (of those against `anchor`, when given), None when there is none."""
    folder = Path(workspace_root) / EVALUATIONS
    files = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.stem)) if folder.is_dir() else []
    for path in reversed(files):
        if anchor is None or load_evaluation(workspace_root, path.stem).anchor == anchor:
            return path.stem
    return None


def evaluate_command(workspace_root: Path, config: ProjectConfig) -> str:
    """The `fac evaluate` command that scores the seed with and without the accepted samples (an example
    to adapt: the test dataset and the exported synthetic dataset are placeholders)."""
    anchor, seed = config.anchor or "ANCHOR", config.seed or "SEED"
    ws, seed_set = shlex.quote(str(workspace_root)), shlex.quote(f"seed={seed}")
    return (f"fac export seed-plus-fac.jsonl --project {config.name} --merge-seed --encode-as seed-plus-fac "
            f"--workspace {ws}\n"
            f"fac evaluate --anchor {shlex.quote(anchor)} --test TEST_DATASET --features sae \\\n"
            f"    --set {seed_set} --set \"seed + FAC=seed-plus-fac\" --name {config.name}-eval \\\n"
            f"    --workspace {ws}")


def collect(workspace_root: Path, project_name: str, evaluation: str | None = None) -> ReportData:
    """Read what the report shows; `evaluation` None picks the latest saved one (or none)."""
    workspace, project = Workspace(workspace_root), Project(workspace_root, project_name)
    config = project.config
    if not config.anchor or not config.seed:
        raise FacError(f"The project {project_name!r} has no anchor or no seed dataset yet; pick both on the home "
                       "page (or with the project settings) before writing a report.")
    anchor, seed = workspace.open(config.anchor), workspace.open(config.seed)
    check_comparable(anchor.manifest, seed.manifest)
    cfg = CoverageConfig(threshold=config.threshold)
    store = SynthesisStore(project)
    seed_pooled = seed.pooled_arrays()
    anchor_support = feature_support(anchor.pooled_arrays(), cfg.threshold)
    live = live_coverage(store, seed_pooled, anchor_support, cfg)
    kept = pooled_of_candidates(store.candidates(status=DECIDED_KEEP), seed_pooled.d_sae)
    name = evaluation if evaluation is not None else latest_evaluation(workspace.root)
    log.info("report of project %s: FAC %.4f -> %.4f, evaluation %s", project_name, live.before.fac,
             live.after.fac, name)
    return ReportData(project=config, anchor=anchor.manifest, seed=seed.manifest, coverage=live,
                      anchor_support=anchor_support, seed_support=feature_support(seed_pooled, cfg.threshold),
                      after_support=combined_support(seed_pooled, kept, cfg.threshold),
                      explanations=project.explanations(), accepted=accepted_frame(store),
                      jobs={j: store.job_config(j) for j in store.job_ids()},
                      evaluation=None if name is None else load_evaluation(workspace.root, name),
                      workspace=workspace.root, created=datetime.now(UTC).isoformat(timespec="seconds"))


def heatmap_groups(data: ReportData, limit: int = HEATMAP_FEATURES) -> FeatureGroups:
    """The heatmap's columns: missing features of the seed, then the anchor's most frequent covered ones."""
    missing = data.missing_order[:limit]
    covered = [f for f in top_features(data.anchor_support.count) if f not in set(missing.tolist())]
    rest = np.asarray(covered[: limit - missing.size], dtype=np.int64)
    groups = [(missing, "missing from the seed"), (rest, "covered by the seed")]
    kept = [(f, n) for f, n in groups if f.size]
    return FeatureGroups(np.concatenate([f for f, _ in kept]) if kept else np.zeros(0, np.int64),
                         np.concatenate([np.full(f.size, i, np.int64) for i, (f, _) in enumerate(kept)])
                         if kept else np.zeros(0, np.int64), [n for _, n in kept])


def report_figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures by file stem: FAC before/after, the heatmap and, with an evaluation, its two plots."""
    before, after = data.coverage.before, data.coverage.after
    bars = pd.DataFrame([{"dataset": name, "fac": r.fac, "fac_freq": r.fac_freq, "fac_magnitude": r.fac_magnitude}
                         for name, r in ((data.project.seed, before), (AFTER_NAME, after))])
    slices = stack_slices([whole_slice(data.anchor_support, data.anchor.name),
                           whole_slice(data.seed_support, data.seed.name),
                           whole_slice(data.after_support, AFTER_NAME)])
    figures = {"fac_before_after": fac_bars(bars),
               "coverage_heatmap": coverage_heatmap(slices, heatmap_groups(data), data.explanations)}
    if data.evaluation is not None:
        figures["fac_vs_auprc"] = fac_auprc_figure(data.evaluation)
        figures["diversity_vs_auprc"] = diversity_figure(data.evaluation)
    return figures
