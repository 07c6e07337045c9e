"""A saved evaluation and accepted synthetic samples for the report, page and tour tests.

On the word-detector workspace (tests/app/conftest.py) the seed {the cat | the mat} covers 3 of the
anchor's 7 features (FAC 3/7); the missing ones are dog (2), sat (3), hello (6), world (7). `accept`
stores one proposed candidate per text, scored as firing its feature at g, and accepts it.
"""

from collections.abc import Sequence
from pathlib import Path

from fac_engine.coverage.diversity import DiversityResult
from fac_engine.coverage.fac import CoverageResult
from fac_engine.evaluation.results import EvalConfig, EvalResult, SeedScores, SetResult, save_evaluation
from fac_engine.synthesis.candidates import Provenance, SampleCodes
from fac_engine.synthesis.curation import NewCandidate, SynthesisStore
from fac_engine.workspace.project import Project

SCRIPT_TEXT = "<script>alert('x')</script> the dog"
"""An accepted sample that must show as text, never run."""
JOB_SETTINGS = {"synthesis": {"n_step1": 3, "m_step2": 3, "instructions": "<b>be nice</b>"}, "anchor": "anchor"}
# (set name, n train, FAC, per-seed AUPRC, distinct-2)
SETS = [("seed", 100, 0.40, (0.60, 0.64), 0.80), ("seed + random", 150, 0.45, (0.66, 0.70), 0.95),
        ("<b>seed + FAC</b>", 150, 0.70, (0.80, 0.84), 0.70)]


def coverage(fac: float) -> CoverageResult:
    """A coverage result with binary FAC `fac` over 100 anchor features."""
    covered = round(100 * fac)
    return CoverageResult(fac=fac, fac_freq=fac, fac_magnitude=fac, anchor_features=100, seed_features=covered,
                          covered=covered, missing=list(range(covered, 100)), threshold=0.0, relevant_features=None,
                          seed_samples=10, anchor_samples=20)


def evaluation(name: str = "toy-eval", sets: Sequence[tuple[str, int, float, tuple[float, ...], float]] = SETS,
               anchor: str = "anchor") -> EvalResult:
    """Three training sets whose AUPRC rises with FAC but not with distinct-2."""
    results = tuple(
        SetResult(name=n, datasets=("seed",), n_train=size, n_positive=size // 2, dropped_unlabelled=0,
                  coverage=coverage(fac),
                  diversity=DiversityResult(n_texts=size, n_tokens=4 * size, distinct_1=d2 / 2, distinct_2=d2,
                                            entropy_1=3.0, entropy_2=4.0 + d2, mean_cosine_distance=None),
                  runs=tuple(SeedScores(seed=i, n_train=size, auprc=a, roc_auc=a + 0.1, f1=a - 0.1)
                             for i, a in enumerate(auprc)))
        for n, size, fac, auprc, d2 in sets)
    return EvalResult(name=name, config=EvalConfig(features="sae", seeds=(0, 1)), anchor=anchor, test="test",
                      n_test=40, n_test_positive=20, model="word-model@abc", sae="sae@def", layer=0, sets=results,
                      seconds=1.5, created="2026-01-01T00:00:00+00:00")


def save_toy_evaluation(ws: Path, name: str = "toy-eval", anchor: str = "anchor") -> EvalResult:
    """Save `evaluation(name)` (against `anchor`) into the workspace."""
    result = evaluation(name, anchor=anchor)
    save_evaluation(ws, result)
    return result


def accept(ws: Path, samples: Sequence[tuple[str, int, float]], project: str = "default",
           flagged: frozenset[int] = frozenset()) -> SynthesisStore:
    """Store (text, feature, g) candidates in one finished job of the project and accept them all; those of the
    `flagged` features as flagged by the fluency guard."""
    store = SynthesisStore(Project(ws, project))
    features = sorted({f for _, f, _ in samples})
    job = store.create_job(JOB_SETTINGS, features)
    for feature in features:
        cands = [NewCandidate(feature=f, step=2, task="query", label="toxic", text=t, fields={"text": t},
                              messages=None, prompt="write", generator="phrase-bot", params={"temperature": 0.8},
                              g=g, threshold=0.0, span=f"<<{t}>>", tokens=t.split(), activations=[g] * len(t.split()),
                              pooled=SampleCodes([0, f], [1.0, g]), rank=0, proposed=True,
                              provenance=Provenance(flagged=f in flagged))
                 for t, f, g in samples if f == feature]
        store.finish_feature(job, feature, cands, pair={}, note="")
    store.decide([c.cand_id for c in store.candidates(job)], "accepted", who="tester")
    return store
