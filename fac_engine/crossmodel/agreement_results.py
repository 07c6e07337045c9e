"""The agreement of FAC across two feature spaces (agreement.py measures it), as JSON-friendly types.

Saved as `<workspace>/.matches/<map>/agreement.json` (atomically), next to the map it was measured with.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from fac_engine.atomic import atomic_file
from fac_engine.crossmodel.bridge import BridgePair
from fac_engine.crossmodel.results import CONFIDENT, map_folder
from fac_engine.crossmodel.transfer import PAIR_KINDS, PairKind
from fac_engine.errors import FacError

FORMAT = "fac-studio-agreement"
AGREEMENT_FILE = "agreement.json"


@dataclass(frozen=True)
class AgreementConfig:
    """How FAC is compared across the two spaces of a feature map."""

    threshold: float = 0.0
    """delta in both spaces: a feature is active on a sample when g > delta."""
    min_confidence: float = CONFIDENT
    """Pairs from this confidence count as confidently mapped."""
    pairs: PairKind = "best"
    """Which pairs count (see transfer.PAIR_KINDS)."""
    shuffles: int = 200
    """Random pairings of the decoder rows for CKA's null."""
    seed: int = 0
    """Seed of those pairings."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"The activation threshold must be a finite number >= 0, not {self.threshold}.")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"The confidence must lie in [0, 1], not {self.min_confidence}.")
        if self.pairs not in PAIR_KINDS:
            raise ValueError(f"Unknown pair kind {self.pairs!r}; use {', '.join(PAIR_KINDS)}.")
        if self.shuffles < 0:
            raise ValueError(f"The number of shuffles must be >= 0, not {self.shuffles}.")


class CoverTable(NamedTuple):
    """Confidently mapped pairs (both features anchor features) by covered / missing in A and in B."""

    both_covered: int
    """Covered in A and in B."""
    only_a: int
    """Covered in A, missing in B."""
    only_b: int
    """Missing in A, covered in B."""
    both_missing: int
    """Missing in both."""

    @property
    def n(self) -> int:
        """Pairs counted."""
        return self.both_covered + self.only_a + self.only_b + self.both_missing

    @property
    def agreement(self) -> float | None:
        """Share of pairs on which both spaces agree (None without pairs)."""
        return (self.both_covered + self.both_missing) / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa (p_o - p_e) / (1 - p_e); None without pairs or when chance agreement is 1."""
        if not self.n:
            return None
        cov_a, cov_b = (self.both_covered + self.only_a) / self.n, (self.both_covered + self.only_b) / self.n
        p_e = cov_a * cov_b + (1 - cov_a) * (1 - cov_b)
        observed = self.agreement
        return None if observed is None or p_e >= 1 else (observed - p_e) / (1 - p_e)


class SeedAgreement(NamedTuple):
    """One dataset measured in both spaces."""

    seed_a: str
    """Its name in A."""
    seed_b: str
    """Its name in B."""
    fac_a: float
    """FAC against the anchor in A."""
    fac_b: float
    """FAC against the anchor in B."""
    table: CoverTable
    """Covered / missing of the confident pairs."""


class CkaResult(NamedTuple):
    """Linear CKA of the paired decoder directions against random pairings."""

    n_pairs: int
    """One-to-one confident pairs compared."""
    cka: float
    """CKA of the true pairing."""
    null_mean: float | None
    """Mean CKA of the random pairings (None without shuffles)."""
    null_p95: float | None
    """Their 95th percentile."""
    p_value: float
    """(1 + random pairings with CKA >= the true one) / (1 + shuffles)."""
    null: tuple[float, ...]
    """Every random pairing's CKA."""


@dataclass(frozen=True)
class AgreementResult:
    """FAC of the same datasets in two spaces and how far the spaces agree."""

    map_name: str
    """The feature map the pairs come from."""
    anchor: BridgePair
    """The anchor dataset in A and in B."""
    config: AgreementConfig
    """The settings used."""
    seeds: tuple[SeedAgreement, ...]
    """One row per dataset measured."""
    spearman: float | None
    """Spearman r of FAC in A and FAC in B across the datasets (None with fewer than 3 or a constant side)."""
    pooled: CoverTable
    """Covered / missing of the confident pairs over every dataset together."""
    active_a: int
    """Features of A that fire on the bridge."""
    active_b: int
    """Features of B that fire on the bridge."""
    confident_a: int
    """Features of A with a confident counterpart (the confident pairs: one per feature of A)."""
    confident_b: int
    """Features of B that are the confident counterpart of some feature of A."""
    cka: CkaResult | None
    """CKA of the paired decoder rows (None when not measured or fewer than 3 pairs)."""
    created: str
    """ISO time it was measured."""

    @property
    def share_a(self) -> float | None:
        """Share of A's bridge features with a confident counterpart."""
        return self.confident_a / self.active_a if self.active_a else None

    @property
    def share_b(self) -> float | None:
        """Share of B's bridge features that are a confident counterpart."""
        return self.confident_b / self.active_b if self.active_b else None

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        data = asdict(self)
        data["format"] = FORMAT
        data["seeds"] = [{**s._asdict(), "table": s.table._asdict()} for s in self.seeds]
        data["pooled"] = self.pooled._asdict()
        data["cka"] = None if self.cka is None else {**self.cka._asdict(), "null": list(self.cka.null)}
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> "AgreementResult":
        """Inverse of `to_json_dict`."""
        if data.get("format") != FORMAT:
            raise ValueError("not a FAC Studio agreement")
        cka = data["cka"]
        return cls(map_name=data["map_name"], anchor=BridgePair(*data["anchor"]),
                   config=AgreementConfig(**data["config"]),
                   seeds=tuple(SeedAgreement(**{**s, "table": CoverTable(**s["table"])}) for s in data["seeds"]),
                   spearman=data["spearman"], pooled=CoverTable(**data["pooled"]),
                   active_a=int(data["active_a"]), active_b=int(data["active_b"]),
                   confident_a=int(data["confident_a"]), confident_b=int(data["confident_b"]),
                   cka=None if cka is None else CkaResult(**{**cka, "null": tuple(cka["null"])}),
                   created=data["created"])


def agreement_path(workspace_root: Path, map_name: str) -> Path:
    """`<workspace>/.matches/<map>/agreement.json`."""
    return map_folder(workspace_root, map_name) / AGREEMENT_FILE


def save_agreement(workspace_root: Path, result: AgreementResult) -> Path:
    """Write the result next to its map (replacing an earlier one); returns the path."""
    path = agreement_path(workspace_root, result.map_name)
    if not path.parent.is_dir():
        raise FacError(f"No saved feature map {result.map_name!r}; run `fac match` first.")
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(result.to_json_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def load_agreement(workspace_root: Path, map_name: str) -> AgreementResult | None:
    """The agreement saved with a map, None when none was measured; FacError when it is unreadable."""
    path = agreement_path(workspace_root, map_name)
    if not path.is_file():
        return None
    try:
        return AgreementResult.from_json_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise FacError(f"{path} is not a readable agreement ({exc}); run `fac match agreement` again.") from exc
