"""What every generating verb sees of a generator: the protocol, the sampling settings, token usage.

Defaults are the paper's: temperature 0.8, top-p 0.9 (docs/METHOD.md section 4).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings shared by every backend."""

    temperature: float = 0.8
    """Softmax temperature (paper: 0.8)."""
    top_p: float = 0.9
    """Nucleus sampling mass (paper: 0.9)."""
    max_new_tokens: int = 128
    """Longest completion, in tokens."""
    seed: int = 0
    """Seeds sampling (sample j of a prompt sent alone gets seed + j; remote endpoints may ignore it)."""
    batch_size: int = 8
    """Prompts x samples generated together by the local backend."""
    repetition_penalty: float = 1.2
    """Local backend only: small models loop without it; about 1.2 keeps SmolLM2-135M from repeating itself."""

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be > 0 and top_p in (0, 1].")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("max_new_tokens and batch_size must be at least 1.")


class Generator(Protocol):
    """Anything that samples completions for chat prompts."""

    @property
    def name(self) -> str: ...

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]: ...


@runtime_checkable
class Prefills(Protocol):
    """A generator that can start every reply with given text and continue from it (pre-fill): the local backend.
    An OpenAI-compatible chat endpoint cannot be pre-filled portably (continuing an assistant turn is a
    server-specific extension), so endpoints get the prompt alone."""

    @property
    def name(self) -> str: ...

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig, *, prefill: str = "") -> list[list[str]]:
        """`n` whole replies per prompt, each starting with `prefill`."""
        ...

    def prefill_chat(self, prompt: str, prefill: str) -> str:
        """The text the model continues: `prompt` as a user turn, then the assistant turn opened with `prefill`."""
        ...


def prefill_for(generator: object, prefill: str) -> str:
    """`prefill` when the generator pre-fills its replies, "" when it cannot (an OpenAI-compatible endpoint)."""
    return prefill if isinstance(generator, Prefills) else ""


def generate_replies(generator: Generator, prompts: Sequence[str], n: int, cfg: GenerationConfig,
                     prefill: str = "") -> list[list[str]]:
    """`n` replies per prompt, pre-filled with `prefill` where the generator can (see `prefill_for`)."""
    if prefill and isinstance(generator, Prefills):
        return generator.generate(prompts, n, cfg, prefill=prefill)
    return generator.generate(prompts, n, cfg)


class TokenUsage(NamedTuple):
    """What a generator has used so far (requests are HTTP calls; the local backend counts batches)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def since(self, earlier: "TokenUsage") -> "TokenUsage":
        """The usage between `earlier` and this snapshot."""
        return TokenUsage(*(a - b for a, b in zip(self, earlier, strict=True)))

    def plus(self, requests: int, prompt_tokens: int, completion_tokens: int) -> "TokenUsage":
        """This usage with one more call's counts added."""
        return TokenUsage(self.requests + requests, self.prompt_tokens + prompt_tokens,
                          self.completion_tokens + completion_tokens)

    def describe(self) -> str:
        """`12 requests, 3,456 prompt + 7,890 completion tokens`."""
        return (f"{self.requests:,} requests, {self.prompt_tokens:,} prompt + {self.completion_tokens:,} "
                "completion tokens")


@runtime_checkable
class MetersTokens(Protocol):
    """A generator that counts its token usage (both built-in backends do; test fakes need not)."""

    @property
    def usage(self) -> TokenUsage: ...


def token_usage(generator: object) -> TokenUsage | None:
    """The generator's usage so far, None when it does not count."""
    return generator.usage if isinstance(generator, MetersTokens) else None
