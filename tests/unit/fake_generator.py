"""A scripted Generator for LLM explanation and judge tests: answers are a function of the prompt."""

from collections.abc import Callable, Sequence

from fac_engine.llm.generators import GenerationConfig


class ScriptedGenerator:
    """Answers each prompt with `script(prompt, cfg)`; records every call's prompts and config."""

    def __init__(self, script: Callable[[str, GenerationConfig], str], name: str = "fake") -> None:
        self.script = script
        self._name = name
        self.calls: list[tuple[list[str], GenerationConfig]] = []

    @property
    def name(self) -> str:
        """The name the project's source records (`llm:fake`)."""
        return self._name

    @property
    def prompts(self) -> list[str]:
        """Every prompt asked, in order."""
        return [p for prompts, _ in self.calls for p in prompts]

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]:
        """One scripted answer per prompt (n is ignored: the callers ask for one)."""
        self.calls.append((list(prompts), cfg))
        return [[self.script(p, cfg)] for p in prompts]
