"""A scripted generator for synthesis tests, and the word-detector LM + SAE as a Scorer.

The generator answers every prompt with n outputs: the first key phrase the prompt asks for plus
" !", then "cat", then empty strings. On the word-detector model (tests/unit/encode_fixtures.py)
the first output fires the target feature with 1 + f/2, "cat" fires only feature 1.
"""

import re
from collections.abc import Sequence
from pathlib import Path

from fac_engine.llm.backend import BackendSpec
from fac_engine.llm.generators import GenerationConfig
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import load_sae
from fac_engine.synthesis.candidates import NewCandidate, SampleCodes
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.job import JobSettings, run_job
from fac_engine.synthesis.scoring import Scorer
from fac_engine.synthesis.twostep import SynthesisConfig
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import DEFAULT_PROJECT, Project

_PHRASE = re.compile(r'phrases: "([^"]+)"')


def scripted_outputs(prompt: str, n: int) -> list[str]:
    """What the scripted generator answers to one prompt."""
    match = _PHRASE.search(prompt)
    hit = f"{match.group(1)} !" if match else "nothing"
    return ([hit, "cat"] + [""] * n)[:n]


class PhraseGenerator:
    """Answers with `scripted_outputs`; fails on call number `fail_on` (1-based) when set."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls = 0
        self.fail_on = fail_on

    @property
    def name(self) -> str:
        """Provenance name."""
        return "phrase-bot"

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]:
        """n outputs per prompt."""
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise RuntimeError("generator crashed")
        return [scripted_outputs(p, n) for p in prompts]


def word_scorer(workspace: Path) -> Scorer:
    """The word-detector model and SAE the app workspace's project names, as a Scorer."""
    config = Project(workspace).config
    lm = load_model(ModelSpec(config.model, device="cpu", dtype="float32"))
    return Scorer(lm, load_sae(config.sae))


def scripted_job(ws: Path, project: str = DEFAULT_PROJECT) -> tuple[SynthesisStore, dict[int, int]]:
    """A finished job of `project` with one proposed candidate per missing feature; returns feature -> candidate
    id."""
    store = SynthesisStore(Project(ws, project))
    cfg = Project(ws, project).config
    settings = JobSettings(SynthesisConfig(n_step1=3, m_step2=3), BackendSpec(model=cfg.model),
                           ModelSpec(cfg.model, device="cpu", dtype="float32"), cfg.sae, None, str(cfg.anchor),
                           (str(cfg.seed), str(cfg.anchor)))
    job = store.create_job(settings.to_json_dict(), [2, 3, 6, 7])
    run_job(store, job, Workspace(ws), PhraseGenerator(), word_scorer(ws))
    return store, {c.feature: c.cand_id for c in store.candidates(job)}


def hand_candidate(feature: int, text: str, proposed: bool) -> NewCandidate:
    """A query candidate for `feature`: proposed with g 2.0, or a hidden step-1 one with g 0.5 (delta 1.0)."""
    return NewCandidate(feature=feature, step=2 if proposed else 1, task="query", label="toxic", text=text,
                        fields={"text": text}, messages=None, prompt="write", generator="bot", params={"seed": 0},
                        g=2.0 if proposed else 0.5, threshold=1.0, span=f"<<{text}>>", tokens=[text],
                        activations=[2.0], pooled=SampleCodes([feature], [2.0]),
                        rank=0 if proposed else None, proposed=proposed)


def hand_store(ws: Path, features_by_job: list[list[int]], per_feature: int = 1) -> SynthesisStore:
    """The default project's store with one finished job per list of features: `per_feature` proposed candidates
    per feature, then a hidden one. [[2, 3], [6]]: job 1 holds candidates 1-4 (2 and 4 hidden), job 2 holds
    5-6 (6 hidden)."""
    store = SynthesisStore(Project(ws))
    for features in features_by_job:
        job = store.create_job({"settings": "none"}, features)
        for f in features:
            cands = [hand_candidate(f, f"f{f} c{i}", True) for i in range(per_feature)]
            cands.append(hand_candidate(f, f"f{f} hidden", False))
            store.finish_feature(job, f, cands, pair={}, note="")
    return store
