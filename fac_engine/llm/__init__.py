"""The one generator client: a local transformers model or an OpenAI-compatible endpoint (openai SDK).

Explanations, the relevance judge, synthesis and the baseline all generate through `make_generator`.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.llm.backend import DEFAULT_KEY_ENV, BackendSpec, can_steer, local_model_spec, make_generator
    from fac_engine.llm.generators import GenerationConfig, Generator
    from fac_engine.llm.protocol import TokenUsage, token_usage
    from fac_engine.llm.steering import SteeringConfig

_PUBLIC = {
    "BackendSpec": "backend",
    "DEFAULT_KEY_ENV": "backend",
    "GenerationConfig": "generators",
    "Generator": "generators",
    "SteeringConfig": "steering",
    "TokenUsage": "protocol",
    "can_steer": "backend",
    "token_usage": "protocol",
    "local_model_spec": "backend",
    "make_generator": "backend",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "DEFAULT_KEY_ENV",
    "BackendSpec",
    "GenerationConfig",
    "Generator",
    "SteeringConfig",
    "TokenUsage",
    "can_steer",
    "local_model_spec",
    "make_generator",
    "token_usage",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
