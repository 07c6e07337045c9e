"""A synthesis job: its settings, the feature targets read from the anchor, the resumable run, and
running it in the background (the dashboard starts `fac synthesize --job N` in its own process)."""

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fac_engine.errors import FacError
from fac_engine.features.queries import feature_report
from fac_engine.features.spans import mark_span, peak_phrase, token_separator
from fac_engine.llm.backend import BackendSpec
from fac_engine.llm.generators import Generator
from fac_engine.llm.steering import SteeredGenerator, steered_generator
from fac_engine.log import get_logger
from fac_engine.models.spec import ModelSpec
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.dedup import ShingleIndex
from fac_engine.synthesis.scoring import Scorer
from fac_engine.synthesis.templates import Demo, FeatureBrief
from fac_engine.synthesis.twostep import FeatureTarget, SynthesisConfig, synthesise_batch
from fac_engine.workspace.datasets import EncodedDataset, Workspace
from fac_engine.workspace.jobs import JOBS_DIR, last_line, process_alive
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
        fallback = Demo(tops[0].text, tops[0].value, spans[0]) if tops else None
        label = majority_label([e.label for e in tops]) if cfg.label == "auto" else cfg.label
        out.append(FeatureTarget(FeatureBrief(feature, explanations.get(feature, ""), spans, phrases), label, fallback))
    return out


def reference_index(workspace: Workspace, names: Sequence[str], store: SynthesisStore, jaccard: float
                    ) -> ShingleIndex:
    """Seed/anchor texts and every candidate already proposed in the project, for near-duplicate flags."""
    index = ShingleIndex(jaccard)
    for name in names:
        texts = workspace.open(name).samples(["text"]).column("text").to_pylist()
        index.add_many((f"{name}:{i}", str(t)) for i, t in enumerate(texts))
    proposed = store.candidates()
    index.add_many((f"candidate:{c}", str(t)) for c, t in zip(proposed["cand_id"], proposed["text"], strict=True))
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
    try:
        if cfg.steered and not isinstance(generator, SteeredGenerator):
            generator = steered_generator(generator, scorer.sae, scorer.lm, cfg.steering)
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
            store.set_job_state(job_id, "running", f"{done} of {total} features done")
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
    store.set_job_state(job_id, "done", f"{total} of {total} features done")


def _log_path(workspace: Path, project: str, job_id: int) -> Path:
    return Path(workspace) / JOBS_DIR / f"synthesis-{project}-{job_id}.log"


def start_job_process(workspace: Path, project: str, job_id: int) -> int:
    """Run `fac synthesize --job N` detached from the caller (the dashboard); returns its pid."""
    log_path = _log_path(workspace, project, job_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "fac_engine.cli", "synthesize", "--job", str(job_id), "--project", project,
           "--workspace", str(workspace)]
    with log_path.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    SynthesisStore(Project(workspace, project)).set_job_state(job_id, "queued", "starting", pid=process.pid)
    return process.pid


def job_log_tail(workspace: Path, project: str, job_id: int) -> str:
    """The last non-empty line of a background job's output ("" when none)."""
    return last_line(_log_path(workspace, project, job_id))


def job_running(store: SynthesisStore, job_id: int) -> bool:
    """Whether the job's process is alive (a job marked running whose process died is marked failed)."""
    pid = store.job_pid(job_id)
    alive = pid is not None and process_alive(pid)
    state = store.progress(job_id).state
    if not alive and state in ("running", "queued"):
        store.set_job_state(job_id, "failed", "the job's process ended unexpectedly; resume it to continue")
    return alive


def stop_job(store: SynthesisStore, job_id: int) -> None:
    """Stop a running job; its finished features stay, resuming continues from there."""
    pid = store.job_pid(job_id)
    if pid is not None and process_alive(pid):
        os.killpg(pid, signal.SIGINT)
