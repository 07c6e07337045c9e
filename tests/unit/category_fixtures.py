"""The toy evaluation of report_fixtures with per-category scores and a real headroom arm, for the figure and
Evaluation page tests.

Per seed (0, 1) and category the recall below; each AUPRC is 0.5 + recall / 2. The seed misses the "threat"
rows that the FAC set catches; the headroom arm (real anchor rows 3 and 1) catches every category.
"""

import dataclasses

from fac_engine.evaluation.categories import CategoryCount, CategoryScore
from fac_engine.evaluation.results import EvalResult, Headroom, SetResult
from tests.unit.report_fixtures import evaluation

CATEGORIES = (CategoryCount("insult", 4), CategoryCount("<i>threat</i>", 2))
RECALL = {"seed": ((0.75, 0.0), (0.75, 0.5)), "seed + random": ((0.75, 0.0), (1.0, 0.0)),
          "<b>seed + FAC</b>": ((1.0, 1.0), (1.0, 0.5)), "seed + headroom (real)": ((1.0, 1.0), (1.0, 1.0))}
"""Set -> per seed: (insult recall, threat recall)."""
HEADROOM = Headroom(base="seed", rows=(3, 1), requested=2, n_missing=5, covered=4)


def _scored(s: SetResult, name: str) -> SetResult:
    runs = tuple(dataclasses.replace(r, categories=tuple(CategoryScore(c.name, v, 0.5 + v / 2)
                                                         for c, v in zip(CATEGORIES, RECALL[name][i], strict=True)))
                 for i, r in enumerate(s.runs))
    return dataclasses.replace(s, name=name, runs=runs)


def categorised(name: str = "cat-eval") -> EvalResult:
    """`report_fixtures.evaluation(name)` with the categories above and the headroom arm (the seed's numbers
    with 2 more rows and FAC 0.9) last."""
    result = evaluation(name)
    seed = result.sets[0]
    real = dataclasses.replace(seed, n_train=seed.n_train + 2, headroom=HEADROOM,
                               coverage=dataclasses.replace(seed.coverage, fac=0.9))
    sets = (*(_scored(s, s.name) for s in result.sets), _scored(real, "seed + headroom (real)"))
    return dataclasses.replace(result, sets=sets, categories=CATEGORIES)
