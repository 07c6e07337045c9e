"""Activation steering of the local generator along SAE decoder directions (docs/METHOD.md section 4.1).

While the generator samples, a forward hook at the SAE's layer adds `alpha * r * W_dec[i] / ||W_dec[i]||`
to the residual stream, where r is the layer's typical residual norm (the median token norm on a few
neutral texts, measured once per model and layer), so alpha reads the same on any model: alpha 1 adds a
vector as long as a typical residual. Layer convention as in models/capture.py: the SAE reads
hidden_states[L], so the hook sits on block L's output (L = 0: the embeddings' output).

Steered positions are those that produce a sampled token: the last prompt position and every generated
one (optionally every prompt position as well). Each row of a batch has its own direction, so one
`generate` call steers many features and strengths at once; hooks are removed when the batch ends, also
when generation fails.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from fac_engine.errors import FacError
from fac_engine.llm.generators import GenerationConfig, LocalGenerator
from fac_engine.llm.protocol import TokenUsage
from fac_engine.log import get_logger
from fac_engine.models.batching import batches_by_token_budget
from fac_engine.models.capture import decoder_layers
from fac_engine.models.loader import LoadedModel
from fac_engine.sae.model import SparseAutoencoder

log = get_logger(__name__)

NORM_TEXTS = (
    "The weather was mild, so we walked to the market and bought bread, apples and cheese.",
    "Can you explain how a bicycle gear works and why it makes climbing hills easier?",
    "She finished the report late at night, sent it to her manager and went to bed.",
    "Here is a short list of things to pack for a weekend trip: a jacket, socks, a charger.",
)
"""Neutral texts the layer's typical residual norm is measured on (plain text, no chat template)."""


@dataclass(frozen=True)
class SteeringConfig:
    """How strongly and where the generator is steered."""

    alphas: tuple[float, ...] = (0.25, 0.5, 1.0)
    """Strengths swept per feature, in units of the layer's typical residual norm (alpha 1 adds a vector as
    long as a median residual); the best one by g_i and fluency is kept for the rest of the feature. On the
    embedded model (layer 15) 0.25 and 0.5 still read as text, 1 breaks words, 2 and more is word salad."""
    steer_prompt: bool = False
    """Also steer the prompt's positions (default: only the positions that produce sampled tokens)."""

    def __post_init__(self) -> None:
        if not self.alphas or any(a <= 0 for a in self.alphas) or len(set(self.alphas)) != len(self.alphas):
            raise ValueError("Give one or more distinct, positive steering strengths (alphas).")


class Steer(NamedTuple):
    """Steer one prompt's samples along a feature's decoder direction."""

    feature: int
    alpha: float


def check_steerable(lm: LoadedModel, sae: SparseAutoencoder, scoring_identity: str) -> None:
    """FacError unless `lm` is the model `sae` reads: the SAE's recorded model identity (or, when it records
    none, the scoring model's), its width and a layer below the final norm."""
    cfg = sae.cfg
    # SAEs trained here record the model's `name@hash` identity; other formats record free text or nothing.
    expected = cfg.model_name if "@" in cfg.model_name else scoring_identity
    problems = []
    if lm.identity != expected:
        problems.append(f"the generator is {lm.identity} but the SAE reads {expected}")
    if lm.hidden_size != cfg.d_in:
        problems.append(f"the generator's hidden size is {lm.hidden_size} but the SAE reads d_in={cfg.d_in}")
    if not 0 <= cfg.hook_layer < lm.num_layers:
        problems.append(f"the SAE reads hidden_states[{cfg.hook_layer}], which is not a block output before the "
                        f"final norm of this {lm.num_layers}-layer model")
    if problems:
        raise FacError("Cannot steer with this generator: " + "; ".join(problems) + ". Steering needs the local "
                       "generator to be the model the SAE was trained on (use --gen-model with --model's value).")


def steering_module(model: nn.Module, layer: int) -> nn.Module:
    """The module whose output is hidden_states[layer]: the embeddings for 0, else block `layer` (1-based)."""
    if layer == 0:
        embeddings = model.get_input_embeddings()  # type: ignore[operator]
        if not isinstance(embeddings, nn.Module):
            raise FacError(f"{type(model).__name__} exposes no input embeddings to steer.")
        return embeddings
    return decoder_layers(model)[layer - 1]


def median_token_norm(lm: LoadedModel, layer: int, texts: Sequence[str] = NORM_TEXTS) -> float:
    """The median L2 norm of the residual stream hidden_states[layer] over the tokens of `texts`."""
    ids = [list(lm.tokenizer(t)["input_ids"]) for t in texts]
    norms = []
    for batch in batches_by_token_budget(ids, token_budget=4096, pad_id=lm.pad_id):
        resid_BTD = lm.residuals(batch.input_ids, batch.attention_mask, layer).float()
        norms.append(resid_BTD.norm(dim=-1)[batch.attention_mask.to(resid_BTD.device).bool()])
    return float(torch.cat(norms).median())


class RowSteering:
    """Adds row-specific vectors to one module's output during a batch (implements generators.BatchSteering)."""

    def __init__(self, module: nn.Module, vectors_PD: torch.Tensor, steer_prompt: bool) -> None:
        self.module, self.vectors_PD, self.steer_prompt = module, vectors_PD, steer_prompt

    @contextmanager
    def rows(self, prompt_indices: Sequence[int], prompt_width: int) -> Iterator[None]:
        """Steer batch row b with `vectors_PD[prompt_indices[b]]` at the steered positions, inside the block."""
        delta_BD = self.vectors_PD[list(prompt_indices)]
        seen = 0

        def add(_module: nn.Module, _args: tuple[Any, ...], output: Any) -> Any:
            nonlocal seen
            hidden_BTD = output[0] if isinstance(output, tuple) else output
            width = hidden_BTD.shape[1]
            # With the KV cache, calls after the prompt see one new position; without it, the whole sequence.
            start = seen if width == 1 else 0
            seen = start + width
            positions_T = torch.arange(start, start + width, device=hidden_BTD.device)
            on_T = positions_T >= (0 if self.steer_prompt else prompt_width - 1)
            steered = hidden_BTD + delta_BD.to(hidden_BTD)[:, None, :] * on_T.to(hidden_BTD.dtype)[None, :, None]
            return (steered, *output[1:]) if isinstance(output, tuple) else steered

        handle = self.module.register_forward_hook(add)
        try:
            yield
        finally:
            handle.remove()


class SteeringContext:
    """An SAE's unit decoder directions at its layer and the layer's typical residual norm, for one model."""

    def __init__(self, lm: LoadedModel, sae: SparseAutoencoder, norm: float, cfg: SteeringConfig) -> None:
        self.lm, self.cfg, self.norm, self.layer = lm, cfg, norm, sae.cfg.hook_layer
        self.module = steering_module(lm.model, self.layer)
        self._W_dec_FD = sae.W_dec.detach()

    @classmethod
    def build(cls, lm: LoadedModel, sae: SparseAutoencoder, scoring_identity: str, cfg: SteeringConfig
              ) -> "SteeringContext":
        """Check that `lm` is the SAE's model, then measure the layer's typical residual norm once."""
        check_steerable(lm, sae, scoring_identity)
        norm = median_token_norm(lm, sae.cfg.hook_layer)
        log.info("steering %s at hidden_states[%d]: median residual norm %.2f", lm.name, sae.cfg.hook_layer, norm)
        return cls(lm, sae, norm, cfg)

    def vectors(self, steers: Sequence[Steer | None]) -> torch.Tensor:
        """`[P, D]`: `alpha * norm * W_dec[i] / ||W_dec[i]||` per prompt (zeros where `None`)."""
        out_PD = torch.zeros(len(steers), self.lm.hidden_size, dtype=torch.float32)
        for p, steer in enumerate(steers):
            if steer is not None:
                row_D = self._W_dec_FD[steer.feature].float().cpu()
                out_PD[p] = steer.alpha * self.norm * row_D / row_D.norm()
        return out_PD.to(self.lm.device)

    def batch(self, steers: Sequence[Steer | None]) -> RowSteering:
        """The steering of one `generate` call: prompt p along `steers[p]`."""
        return RowSteering(self.module, self.vectors(steers), self.cfg.steer_prompt)


class SteeredGenerator:
    """The local generator with steering; `generate` samples unsteered, `generate_steered` steers each prompt."""

    def __init__(self, local: LocalGenerator, context: SteeringContext) -> None:
        self.local, self.context = local, context

    @property
    def name(self) -> str:
        """The model's display name."""
        return self.local.name

    @property
    def layer(self) -> int:
        """The steered layer (hidden_states index)."""
        return self.context.layer

    @property
    def usage(self) -> TokenUsage:
        """The local generator's batches, prompt and generated tokens so far (steered or not)."""
        return self.local.usage

    def prefill_chat(self, prompt: str, prefill: str) -> str:
        """The text the local model continues (`LocalGenerator.prefill_chat`)."""
        return self.local.prefill_chat(prompt, prefill)

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig, *, prefill: str = "") -> list[list[str]]:
        """`n` unsteered completions per prompt, each opened with `prefill`."""
        return self.local.generate(prompts, n, cfg, prefill=prefill)

    def generate_steered(self, prompts: Sequence[str], steers: Sequence[Steer | None], n: int,
                         cfg: GenerationConfig, prefill: str = "") -> list[list[str]]:
        """`n` completions per prompt, prompt p steered along `steers[p]` (unsteered where `None`), each opened
        with `prefill`."""
        if len(steers) != len(prompts):
            raise ValueError("generate_steered needs one steer (or None) per prompt.")
        return self.local.generate(prompts, n, cfg, steering=self.context.batch(steers), prefill=prefill)


def steered_generator(generator: object, sae: SparseAutoencoder, scoring_lm: LoadedModel, cfg: SteeringConfig
                      ) -> SteeredGenerator:
    """Wrap a local generator for steering along `sae`'s directions; FacError for any other backend or model."""
    if not isinstance(generator, LocalGenerator):
        raise FacError("Steering needs the local generator (--backend local); an HTTP endpoint cannot be steered. "
                       "Use --mode prompt with an OpenAI-compatible backend.")
    return SteeredGenerator(generator, SteeringContext.build(generator.lm, sae, scoring_lm.identity, cfg))
