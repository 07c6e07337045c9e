"""The normalised description of an SAE, whatever format it was loaded from."""

from dataclasses import dataclass, field
from typing import Literal

Activation = Literal["relu", "topk", "jumprelu"]
"""How pre-activations become codes (BatchTopK SAEs are saved as jumprelu)."""

Normalization = Literal["none", "scale", "constant_norm_rescale", "layer_norm"]
"""Input normalisation applied before b_dec is subtracted (docs/SAE_FORMATS.md)."""

@dataclass(frozen=True)
class SaeConfig:
    """Everything needed to encode with an SAE, in FAC Studio's internal convention."""

    d_in: int
    """Width of the residual stream the SAE reads (the model's hidden size)."""
    d_sae: int
    """Number of latents (features)."""
    activation: Activation
    """relu, topk (keep the k largest pre-activations) or jumprelu (per-latent threshold)."""
    hook_layer: int
    """Index into `hidden_states`: 0 is the embeddings, L is the output of block L (1-based)."""
    k: int | None = None
    """Latents kept per token; required for topk, unused otherwise."""
    apply_b_dec_to_input: bool = True
    """Subtract b_dec from the (normalised) input before encoding."""
    normalization: Normalization = "none"
    """Input normalisation; `scale` multiplies by `input_scale`."""
    input_scale: float = 1.0
    """Constant factor for `normalization == "scale"` (e.g. Llama Scope's dataset-wise norm)."""
    max_active: int | None = None
    """relu / jumprelu only: None keeps every feature above zero (ragged per token); a number caps the
    features kept per token, for memory, and every activation left out is counted and reported."""
    model_name: str = ""
    """Identity of the language model the SAE was trained on (free text, e.g. a hub id)."""
    source_format: str = "fac"
    """Format the SAE was loaded from (fac, saelens, sparsify, fac-synthesis, ...)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Training / evaluation metrics (fvu, l0, dead_fraction, tokens, ...)."""

    def __post_init__(self) -> None:
        if self.d_in <= 0 or self.d_sae <= 0:
            raise ValueError(f"SAE sizes must be positive, got d_in={self.d_in}, d_sae={self.d_sae}.")
        if self.activation not in ("relu", "topk", "jumprelu"):
            raise ValueError(f"Unknown SAE activation {self.activation!r}; use relu, topk or jumprelu.")
        if self.activation == "topk" and (self.k is None or not 0 < self.k <= self.d_sae):
            raise ValueError(f"A topk SAE needs 0 < k <= d_sae ({self.d_sae}), got k={self.k}.")
        if self.hook_layer < 0:
            raise ValueError(f"The hook layer must be >= 0 (0 is the embeddings), got {self.hook_layer}.")
        if self.normalization not in ("none", "scale", "constant_norm_rescale", "layer_norm"):
            raise ValueError(f"Unknown input normalisation {self.normalization!r}.")
        if self.max_active is not None and self.max_active <= 0:
            raise ValueError(f"max_active must be positive (or unset to keep every active feature), "
                             f"got {self.max_active}.")

    @property
    def sparse_width(self) -> int | None:
        """(value, index) pairs per token the sparse encoding keeps at most; None: every active feature."""
        if self.activation == "topk":
            assert self.k is not None
            return self.k
        return None if self.max_active is None else min(self.max_active, self.d_sae)
