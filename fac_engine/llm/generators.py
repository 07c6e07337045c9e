"""Generator backends: local transformers generation (batched, here) and any OpenAI-compatible HTTP
endpoint (llm/openai_client.py, on the openai SDK, concurrent).

Both take chat prompts (one user message each) and return `n` sampled completions per prompt;
the protocol and the sampling settings are in llm/protocol.py. The local one can pre-fill: the
assistant turn starts with given text and the model continues it (`Prefills` in llm/protocol.py);
an OpenAI-compatible endpoint gets the prompt alone.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from importlib import import_module
from typing import Any, Protocol

import torch

from fac_engine.llm.protocol import GenerationConfig, Generator, TokenUsage
from fac_engine.models.loader import LoadedModel

__all__ = ["GenerationConfig", "Generator", "LocalGenerator", "TokenUsage"]  # and OpenAIGenerator, lazily


def __getattr__(name: str) -> Any:
    # OpenAIGenerator is imported on first use: the openai SDK takes half a second to import.
    if name == "OpenAIGenerator":
        return import_module("fac_engine.llm.openai_client").OpenAIGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BatchSteering(Protocol):
    """Steers the rows of one local `generate` batch (fac_engine/llm/steering.py implements it)."""

    def rows(self, prompt_indices: Sequence[int], prompt_width: int) -> AbstractContextManager[None]:
        """A context in which the model steers batch row b as prompt `prompt_indices[b]` asks; prompts are
        left-padded to `prompt_width` tokens."""
        ...


class LocalGenerator:
    """A loaded causal LM generating through its chat template, many sequences per forward pass."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm
        self._usage = TokenUsage()

    @property
    def name(self) -> str:
        """The model's display name."""
        return self.lm.name

    @property
    def usage(self) -> TokenUsage:
        """Batches run (as requests), prompt tokens and generated tokens so far."""
        return self._usage

    def prefill_chat(self, prompt: str, prefill: str) -> str:
        """The text the model continues: `prompt` as a user turn through the chat template, then the assistant turn
        opened with `prefill` (the template's own generation prompt when `prefill` is empty). Without a chat
        template: the prompt, then the pre-fill on a new line."""
        tok = self.lm.tokenizer
        if not getattr(tok, "chat_template", None):
            return f"{prompt}\n{prefill}" if prefill else prompt
        if not prefill:
            return str(tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                               add_generation_prompt=True))
        # continue_final_message renders the assistant turn as the template writes it, cut after its content.
        chat = [{"role": "user", "content": prompt}, {"role": "assistant", "content": prefill}]
        return str(tok.apply_chat_template(chat, tokenize=False, continue_final_message=True))

    def _prompt_ids(self, prompt: str, prefill: str) -> list[int]:
        tok = self.lm.tokenizer
        text = self.prefill_chat(prompt, prefill)
        return list(tok(text, add_special_tokens=not getattr(tok, "chat_template", None))["input_ids"])

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig, steering: BatchSteering | None = None,
                 *, prefill: str = "", **generate_kwargs: Any) -> list[list[str]]:
        """`n` completions per prompt, generated `cfg.batch_size` sequences at a time (left-padded).

        `steering` (optional) steers each batch row as its prompt asks; `prefill` (optional) opens every reply
        and is returned as its start; `generate_kwargs` go to transformers' `generate` (e.g. min_new_tokens
        for benchmarks).
        """
        if n < 1:
            raise ValueError("n must be at least 1.")
        ids_of = {p: self._prompt_ids(p, prefill) for p in dict.fromkeys(prompts)}
        jobs = [(i, ids_of[p]) for i, p in enumerate(prompts) for _ in range(n)]
        out: list[list[str]] = [[] for _ in prompts]
        torch.manual_seed(cfg.seed)
        for first in range(0, len(jobs), cfg.batch_size):
            batch = jobs[first : first + cfg.batch_size]
            width = max(len(ids) for _, ids in batch)
            ids = torch.full((len(batch), width), self.lm.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, (_, prompt_ids) in enumerate(batch):
                ids[row, width - len(prompt_ids) :] = torch.tensor(prompt_ids)
                mask[row, width - len(prompt_ids) :] = 1
            steer = steering.rows([i for i, _ in batch], width) if steering is not None else nullcontext()
            with steer:
                generated = self.lm.model.generate(  # type: ignore[operator]
                    input_ids=ids.to(self.lm.device), attention_mask=mask.to(self.lm.device), do_sample=True,
                    temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                    pad_token_id=self.lm.pad_id, repetition_penalty=cfg.repetition_penalty, **generate_kwargs,
                )
            new_BT = generated[:, width:]
            for row, (prompt_index, _) in enumerate(batch):
                text = self.lm.tokenizer.decode(new_BT[row], skip_special_tokens=True)
                out[prompt_index].append((prefill + str(text)).strip())
            self._usage = self._usage.plus(1, sum(len(p) for _, p in batch), int((new_BT != self.lm.pad_id).sum()))
        return out
