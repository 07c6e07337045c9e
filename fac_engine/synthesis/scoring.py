"""Score synthetic samples by re-encoding them through the LM + SAE (docs/METHOD.md section 4: g_i).

One `Scorer` holds the loaded LM and SAE for a whole job (no reload per candidate); it encodes
many samples per forward pass (token-budget batches, forward stopped at the SAE's layer, sparse
SAE codes) exactly as the dataset encoder does, so a sample scores the same here as in coverage.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fac_engine.encoding.activations import feature_activations
from fac_engine.encoding.budget import encode_budget
from fac_engine.encoding.encode import DEFAULT_MAX_LENGTH
from fac_engine.encoding.pooling import pool_max_entries
from fac_engine.encoding.sparse_batches import RowCodes, sparse_codes_by_batch
from fac_engine.errors import FacError
from fac_engine.features.spans import mark_span, token_separator
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import EncodedText, encode_messages, encode_text
from fac_engine.sae.identity import sae_identity
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.synthesis.templates import Sample
from fac_engine.workspace.datasets import Manifest

VOCAB_SAMPLE = 5000
"""Tokens decoded to tell how this vocabulary joins tokens into text."""


@dataclass(frozen=True)
class SampleScore:
    """A sample's activation of one target feature, and all its pooled features."""

    g: float
    """g_i(x): max activation of the target feature over content tokens (0 when it never fires)."""
    position: int
    """Token of the max (-1 when it never fires)."""
    span: str
    """Text of the tokens around the max, the max token marked <<...>> ("" when it never fires)."""
    tokens: list[str]
    """Tokens from the first to the last content token (t0 on)."""
    activations: list[float]
    """The target feature's activation on each of them (0 on tokens that are not content, e.g. role markers)."""
    pooled_features: list[int]
    """Every feature active on the sample (max-pooled over content tokens)."""
    pooled_values: list[float]
    """Their g values."""


class Scorer:
    """The loaded LM + SAE, scoring batches of samples for target features."""

    def __init__(self, lm: LoadedModel, sae: SparseAutoencoder, chat: bool = True, token_budget: int | None = None,
                 max_length: int = DEFAULT_MAX_LENGTH) -> None:
        self.lm, self.sae, self.chat, self.max_length = lm, sae, chat, max_length
        self.budget = encode_budget(lm, sae, token_budget=token_budget)
        tok = lm.tokenizer
        self.sep = token_separator([str(tok.decode([i])) for i in range(min(len(tok), VOCAB_SAMPLE))])

    @classmethod
    def like(cls, lm: LoadedModel, sae: SparseAutoencoder, manifest: Manifest | None) -> "Scorer":
        """A scorer that wraps, pools and truncates exactly as `manifest`'s dataset was encoded (the defaults of
        dataset encoding when there is no dataset yet), so a candidate's g_i is what coverage will see.

        FacError when `lm` or `sae` is not what that dataset was encoded with: feature i of another SAE is
        another feature, so its scores would say nothing about the dataset's coverage."""
        if manifest is None:
            return cls(lm, sae)
        for what, ours, theirs in (("model", lm.identity, manifest.model), ("SAE", sae_identity(sae), manifest.sae),
                                   ("layer", sae.cfg.hook_layer, manifest.layer)):
            if ours != theirs:
                raise FacError(f"{manifest.name!r} was encoded with another {what} ({theirs}, SAE {manifest.sae_path}) "
                               f"than the one given to score with ({ours}); score with the model and SAE it was "
                               "encoded with.")
        return cls(lm, sae, chat=manifest.t0_policy != "plain", max_length=manifest.max_length)

    def encode(self, sample: Sample) -> EncodedText:
        """A sample tokenised as this scorer reads it (chat template, truncation), content tokens marked."""
        if self.chat and sample.messages:
            return encode_messages(self.lm.tokenizer, sample.messages, max_length=self.max_length)
        return encode_text(self.lm.tokenizer, sample.text, chat=self.chat, max_length=self.max_length)

    def score(self, samples: Sequence[Sample], features: Sequence[int]) -> list[SampleScore]:
        """Score sample k for target feature `features[k]` (one forward pass per token-budget batch)."""
        if len(samples) != len(features):
            raise ValueError("score() needs one target feature per sample.")
        encoded = [self.encode(s) for s in samples]
        out: dict[int, SampleScore] = {}
        for rows in sparse_codes_by_batch(self.lm, self.sae, [e.ids for e in encoded], self.budget.tokens,
                                          sae_rows=self.budget.sae_rows):
            for r in rows:
                out[r.row] = self._one(encoded[r.row], r, int(features[r.row]))
        return [out[k] for k in range(len(samples))]

    def _one(self, enc: EncodedText, codes: RowCodes, feature: int) -> SampleScore:
        content_T = np.asarray(enc.content(), bool)
        t0 = enc.content_start
        end = int(np.flatnonzero(content_T)[-1]) + 1 if content_T.any() else t0
        acts_T = feature_activations(codes.values, codes.indices, feature, counts=codes.counts)
        acts_T = np.where(content_T, acts_T, 0.0)[t0:end]
        tokens = [str(self.lm.tokenizer.decode([i])) for i in enc.ids[t0:end]]
        token_E = codes.token_of_entry()
        pooled = pool_max_entries(np.zeros(token_E.size, np.int64), token_E, content_T[token_E], codes.values,
                                  codes.indices)
        acts = [float(a) for a in acts_T]
        g = max(acts, default=0.0)
        return SampleScore(g, int(np.argmax(acts_T)) if g > 0 else -1, mark_span(tokens, acts, self.sep), tokens, acts,
                           [int(f) for f in pooled.feature], [float(v) for v in pooled.value])
