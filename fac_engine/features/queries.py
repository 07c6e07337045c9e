"""Feature queries over an encoded dataset: the statistics table, and one feature's examples with
per-token activations (for token highlighting). Reads only precomputed files."""

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fac_engine.encoding.activations import feature_activations
from fac_engine.errors import FacError
from fac_engine.workspace.datasets import EncodedDataset


@dataclass(frozen=True)
class TokenActivations:
    """One sample as tokens, with one feature's activation on each token (0 where inactive)."""

    tokens: list[str]
    """Decoded tokens, chat-template prefix included."""
    activations: list[float]
    """The feature's activation per token."""
    content_start: int
    """t0: tokens before it are the template prefix (not pooled)."""


@dataclass(frozen=True)
class FeatureExample:
    """A sample that activates the feature."""

    sample: int
    """Sample id in the dataset (0-based, dataset order)."""
    kind: Literal["top", "quantile"]
    """Among the strongest samples, or taken at an activation quantile."""
    rank: int
    """0 = strongest sample of this feature."""
    value: float
    """g_i(x): the max activation over content tokens."""
    position: int
    """Token where the max is reached."""
    text: str
    """The sample's text."""
    label: Any
    """Its label, if the dataset has one."""
    tokens: TokenActivations
    """Per-token activations of this feature."""


@dataclass(frozen=True)
class FeatureReport:
    """One feature's statistics and examples."""

    feature: int
    n_active: int
    """Samples with g_i > 0."""
    frac_active: float
    max: float
    mean: float
    """Mean of g_i over the samples where it is > 0."""
    hist: list[int]
    """Counts of g_i in equal bins over (0, max]."""
    examples: list[FeatureExample] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tokens and activations included)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ("feature", "n_active", "frac_active", "max", "mean",
                                                             "hist")}
        out["examples"] = [{"sample": e.sample, "kind": e.kind, "rank": e.rank, "value": e.value,
                            "position": e.position, "text": e.text, "label": e.label,
                            "tokens": e.tokens.tokens, "activations": e.tokens.activations,
                            "content_start": e.tokens.content_start} for e in self.examples]
        return out


def feature_stats_frame(data: EncodedDataset) -> pd.DataFrame:
    """Every active feature's statistics (without histograms), most often active first."""
    table = data.feature_table("stats").drop_columns(["hist"])
    frame = table.to_pandas()
    return frame.sort_values(["n_active", "feature"], ascending=[False, True], ignore_index=True)


def token_table_activations(tokens: pa.Table, feature: int) -> np.ndarray:
    """The activation of `feature` on each row of a per-token table (features/values lists)."""
    feats, vals = tokens.column("features").combine_chunks(), tokens.column("values").combine_chunks()
    counts = pc.list_value_length(feats).fill_null(0).to_numpy()
    return feature_activations(pc.list_flatten(vals).to_numpy(), pc.list_flatten(feats).to_numpy(), feature, counts)


def feature_report(data: EncodedDataset, feature: int, top: int = 10, quantiles: bool = True) -> FeatureReport:
    """Statistics of `feature` and its `top` strongest samples (plus quantile samples) with token activations."""
    if not 0 <= feature < data.manifest.d_sae:
        raise FacError(f"Feature {feature} does not exist; this SAE has features 0..{data.manifest.d_sae - 1}.")
    stats = data.feature_table("stats", feature).to_pylist()
    if not stats:
        return FeatureReport(feature, 0, 0.0, 0.0, 0.0, [])
    row = stats[0]
    examples = data.feature_table("examples", feature).to_pylist()
    chosen = [e for e in examples
              if (e["kind"] == "top" and e["rank"] < top) or (quantiles and e["kind"] == "quantile")]
    chosen.sort(key=lambda e: e["rank"])
    ids = [int(e["sample"]) for e in chosen]
    columns = ["sample", "content_start", "text"] + (["label"] if data.manifest.label_field else [])
    meta = data.sample_rows(ids, columns).to_pylist()
    token_tables = data.sample_tokens(ids)
    vocab = data.vocab()
    out = []
    for e, m in zip(chosen, meta, strict=True):
        table = token_tables[int(e["sample"])]
        acts = token_table_activations(table, feature)
        tokens = [vocab[i] if i < len(vocab) else "<?>" for i in table.column("token_id").to_pylist()]
        out.append(FeatureExample(int(e["sample"]), e["kind"], int(e["rank"]), float(e["value"]), int(e["position"]),
                                  str(m["text"]), m.get("label"),
                                  TokenActivations(tokens, [float(a) for a in acts], int(m["content_start"]))))
    return FeatureReport(feature, int(row["n_active"]), float(row["frac_active"]), float(row["max"]),
                         float(row["mean"]), list(row["hist"]), out)
