"""A synthesis job: its settings, the feature targets read from the anchor, the resumable run, and
running it in the background through the workspace's job runner (`fac synthesize --job N`)."""

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from fac_engine.errors import FacError
from fac_engine.features.queries import feature_report
from fac_engine.features.spans import mark_span, peak_phrase, token_separator
from fac_engine.llm.backend import BackendSpec
from fac_engine.llm.generators import Generator
from fac_engine.llm.protocol import token_usage
from fac_engine.log import get_logger
from fac_engine.models.spec import ModelSpec
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.dedup import ShingleIndex
from fac_engine.synthesis.sampled import steering
from fac_engine.synthesis.scoring import Scorer
from fac_engine.synthesis.templates import Demo, FeatureBrief
from fac_engine.synthesis.twostep import FeatureTarget, SynthesisConfig, synthesise_batch
from fac_engine.workspace.datasets import EncodedDataset, Workspace
from fac_engine.workspace.jobs import JobState, job_status, process_alive, start_job, stop_job
from fac_engine.workspace.project import Project

log = get_logger(__name__)

TOP_SPANS = 10
"""Anchor spans read per feature (the paper's top-10)."""
MAX_PHRASES = 4
"""Distinct key phrases the prompts list."""


@dataclass(frozen=True)
class JobSettings:
    """Everything a job needs to run again later, stored with it as JSON."""

    synthesis: SynthesisConfig
    backend: BackendSpec
    model: ModelSpec
    """The LM that scores candidates (it must be the one the SAE was trained on)."""
    sae: str
    layer: int | None
    anchor: str
    """Encoded dataset the spans and the fallback come from."""
    references: tuple[str, ...]
    """Encoded datasets candidates are checked against for near duplicates (seed, anchor)."""

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"synthesis": self.synthesis.to_json_dict(), "backend": asdict(self.backend),
                "model": asdict(self.model), "sae": self.sae, "layer": self.layer, "anchor": self.anchor,
                "references": list(self.references)}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "JobSettings":
        """Read back what `to_json_dict` wrote."""
        try:
            return cls(SynthesisConfig.from_json_dict(data["synthesis"]), BackendSpec(**data["backend"]),
                       ModelSpec(**data["model"]), str(data["sae"]), data.get("layer"), str(data["anchor"]),
                       tuple(data.get("references", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise FacError(f"The saved job settings cannot be read ({exc}).") from exc


def majority_label(labels: Sequence[object]) -> str | None:
    """The most common non-empty label (ties: the first seen), None when there is none."""
    counts = Counter(str(v) for v in labels if v is not None and str(v) != "")
    return counts.most_common(1)[0][0] if counts else None


def feature_targets(anchor: EncodedDataset, features: Sequence[int], explanations: dict[int, str],
                    cfg: SynthesisConfig) -> list[FeatureTarget]:
    """What the prompts say about each feature: its explanation, top anchor spans, label, fallback x+."""
    out = []
    sep = token_separator(anchor.vocab())
    for feature in features:
        report = feature_report(anchor, feature, top=TOP_SPANS, quantiles=False)
        tops = [e for e in report.examples if e.kind == "top"]
        spans = tuple(mark_span(e.tokens.tokens[e.tokens.content_start:],
                                e.tokens.activations[e.tokens.content_start:], sep) for e in tops)
        phrases = tuple(dict.fromkeys(p for p in (peak_phrase(e.tokens.tokens[e.tokens.content_start:],
                                                                e.tokens.activations[e.tokens.content_start:], sep)
                                                    for e in tops) if p))[:MAX_PHRASES]
        fallback = Demo(tops[0].text, tops[0].value, spans[0], source="anchor") if tops else None
        label = majority_label([e.label for e in tops]) if cfg.label == "auto" else cfg.label
        out.append(FeatureTarget(FeatureBrief(feature, explanations.get(feature, ""), spans, phrases), label, fallback))
    return out


def dataset_index(workspace: Workspace, names: Sequence[str], jaccard: float) -> ShingleIndex:
    """The texts of encoded datasets, keyed `name:row`."""
    index = ShingleIndex(jaccard)
    for name in names:
        texts = workspace.open(name).samples(["text"]).column("text").to_pylist()
        index.add_many((f"{name}:{i}", str(t)) for i, t in enumerate(texts))
    return index


def reference_index(workspace: Workspace, names: Sequence[str], store: SynthesisStore, jaccard: float
                    ) -> ShingleIndex:
    """Seed/anchor texts and every candidate already proposed in the project, for near-duplicate flags."""
    index = dataset_index(workspace, names, jaccard)
    index.add_many((f"candidate:{c.cand_id}", c.text) for c in store.candidates())
    return index


Progress = Callable[[int, int], None]
"""Called with (features done, features in the job)."""


def run_job(store: SynthesisStore, job_id: int, workspace: Workspace, generator: Generator, scorer: Scorer,
            progress: Progress | None = None) -> None:
    """Run (or resume) a job: finished features are skipped, an unfinished one is redone from scratch.
    Each feature's candidates are committed as soon as its batch is scored. Steered modes wrap the local
    `generator` for steering along the scorer's SAE (refused for another model or backend)."""
    settings = JobSettings.from_json_dict(store.job_config(job_id))
    cfg = settings.synthesis
    dropped = store.drop_partial(job_id)
    if dropped:
        log.info("job %d: dropped %d candidates of an interrupted feature", job_id, dropped)
    pending = store.pending_features(job_id)
    total = len(store.feature_rows(job_id))
    store.set_job_state(job_id, "running", f"{total - len(pending)} of {total} features done", pid=os.getpid())
    started = token_usage(generator)

    def usage_note() -> str:
        """This run's generator usage, for the job's message (nothing for a generator that does not count)."""
        now = token_usage(generator)
        return "" if now is None or started is None else f"; generator: {now.since(started).describe()}"

    try:
        if cfg.steered:
            generator = steering(generator, scorer, cfg.steering)
        anchor = workspace.open(settings.anchor)
        duplicates = reference_index(workspace, settings.references, store, cfg.duplicate_jaccard)
        explanations = store.project.explanations()
        done = total - len(pending)
        if progress:
            progress(done, total)
        for first in range(0, len(pending), cfg.features_per_batch):
            chunk = pending[first : first + cfg.features_per_batch]
            targets = feature_targets(anchor, chunk, explanations, cfg)
            for outcome in synthesise_batch(targets, generator, scorer, cfg, duplicates):
                store.finish_feature(job_id, outcome.feature, outcome.candidates, outcome.pair, outcome.note)
            done += len(chunk)
            store.set_job_state(job_id, "running", f"{done} of {total} features done{usage_note()}")
            if progress:
                progress(done, total)
    except FacError as exc:
        store.set_job_state(job_id, "failed", str(exc))
        raise
    except KeyboardInterrupt:
        store.set_job_state(job_id, "stopped", "stopped; run it again to resume")
        raise
    except Exception as exc:
        store.set_job_state(job_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    store.set_job_state(job_id, "done", f"{total} of {total} features done{usage_note()}")


def background_name(project: str, job_id: int) -> str:
    """The runner's name of synthesis job `job_id` of `project` (unique: the id is what follows the last '-')."""
    return f"{project}-{int(job_id)}"


def start_background(workspace: Path, project: str, job_id: int) -> int:
    """Run (or resume) a synthesis job as `fac synthesize --job N` through the workspace's job runner; returns the
    pid. The job reads as queued until its process records that it runs."""
    store = SynthesisStore(Project(workspace, project))
    store.progress(job_id)  # FacError when there is no such job
    pid = start_job(workspace, background_name(project, job_id), "synthesis",
                    ["synthesize", "--job", str(int(job_id)), "--project", project])
    store.set_job_state(job_id, "queued", "starting")
    return pid


def stop_background(workspace: Path, project: str, job_id: int) -> bool:
    """Ask a job running in the background to stop (its finished features stay); False when it does not run there."""
    name = background_name(project, job_id)
    status = job_status(workspace, name, "synthesis")
    if status is None or status.state != "running":
        return False
    stop_job(workspace, name, "synthesis")
    return True


def job_state(workspace: Path, store: SynthesisStore, job_id: int) -> JobState:
    """Where a job stands. How it ended is what the job recorded; while it is recorded as queued or running, its
    process is checked: a job started in the background has the runner's state (and when its process ended without
    recording how, the store gets the runner's state and last output line); a job run elsewhere (a terminal) whose
    process is gone is marked failed."""
    recorded = store.progress(job_id).state
    if recorded not in ("queued", "running"):
        return cast(JobState, recorded)
    status = job_status(workspace, background_name(store.project.name, job_id), "synthesis")
    if status is not None:
        if status.state in ("failed", "stopped"):
            store.set_job_state(job_id, status.state, status.message or "the job's process ended without a message")
        return status.state
    pid = store.job_pid(job_id)
    if recorded == "running" and (pid is None or not process_alive(pid)):
        store.set_job_state(job_id, "failed", "the job's process ended unexpectedly; resume it to continue")
        return "failed"
    return cast(JobState, recorded)
