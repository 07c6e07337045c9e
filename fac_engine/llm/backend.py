"""Which generator to use: the local model (embedded default or any local one) or an HTTP endpoint.

A `BackendSpec` is what a user picks (CLI options, the synthesis page); `make_generator` turns it
into a `Generator`. The API key is never stored: the spec names the environment variable that
holds it, so settings and provenance can be saved and shown without leaking secrets.
"""

import os
from dataclasses import dataclass
from typing import Literal

from fac_engine.errors import FacError
from fac_engine.llm.generators import LocalGenerator
from fac_engine.llm.protocol import Generator
from fac_engine.models.loader import LoadedModel
from fac_engine.models.spec import ModelSpec

BackendKind = Literal["local", "openai"]
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class BackendSpec:
    """A generator backend as the user names it."""

    kind: BackendKind = "local"
    """`local` (transformers generation) or `openai` (any OpenAI-compatible /chat/completions endpoint)."""
    model: str = "embedded"
    """Local: `embedded`, a transformers folder or a .gguf file. HTTP: the model name the endpoint serves."""
    base_url: str = ""
    """HTTP only: the endpoint up to /v1 (e.g. http://localhost:8000/v1)."""
    api_key_env: str = DEFAULT_KEY_ENV
    """HTTP only: the environment variable that holds the API key (may be unset for local servers)."""
    timeout_s: float = 60.0
    """HTTP only: seconds per request."""
    retries: int = 3
    """HTTP only: retries with exponential backoff on 5xx/408/409/429/connection errors (the openai SDK's)."""
    concurrency: int = 16
    """HTTP only: requests in flight at once (serving engines batch them; 1 sends one at a time)."""

    def __post_init__(self) -> None:
        if self.kind not in ("local", "openai"):
            raise ValueError(f"Unknown generator backend {self.kind!r}; use 'local' or 'openai'.")
        if not self.model.strip():
            raise ValueError("The generator model is empty.")
        if self.kind == "openai" and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("An OpenAI-compatible backend needs a base URL starting with http:// or https:// "
                             "(for example http://localhost:8000/v1).")
        if self.timeout_s <= 0 or self.retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0.")
        if not 1 <= self.concurrency <= 1024:
            raise ValueError(f"concurrency must be between 1 and 1024, got {self.concurrency}.")

    @property
    def label(self) -> str:
        """How provenance names this backend (no secrets)."""
        return f"local:{self.model}" if self.kind == "local" else f"openai:{self.model}@{self.base_url}"


def local_model_spec(spec: BackendSpec, scoring: ModelSpec) -> ModelSpec:
    """The model a local backend generates with, on the device and dtype of the scoring model."""
    return ModelSpec(source=spec.model, device=scoring.device, dtype=scoring.dtype)


def can_steer(spec: BackendSpec, scoring: ModelSpec) -> bool:
    """Whether `spec` generates with the scoring model itself, the only generator steering can drive (the
    identity check against the SAE follows when the job runs, fac_engine/llm/steering.py)."""
    return spec.kind == "local" and local_model_spec(spec, scoring) == scoring


def make_generator(spec: BackendSpec, local_lm: LoadedModel | None = None) -> Generator:
    """The generator for `spec`. A local spec reuses `local_lm` when given (the LM already loaded
    for scoring), so synthesis with the embedded model holds one copy of it."""
    if spec.kind == "openai":
        from fac_engine.llm.openai_client import OpenAIGenerator

        key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        return OpenAIGenerator(spec.base_url, spec.model, api_key=key, timeout_s=spec.timeout_s, retries=spec.retries,
                               concurrency=spec.concurrency, key_env=spec.api_key_env)
    if local_lm is None:
        raise FacError("The local generator needs a loaded model; load it first (this is a bug if you see it).")
    return LocalGenerator(local_lm)
