"""Generator backends: local transformers generation (batched) and any OpenAI-compatible HTTP endpoint.

Both take chat prompts (one user message each) and return `n` sampled completions per prompt.
Defaults are the paper's: temperature 0.8, top-p 0.9 (docs/METHOD.md section 4).
"""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.loader import LoadedModel

log = get_logger(__name__)


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
    """Seeds local sampling (remote endpoints may ignore it)."""
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

    @property
    def name(self) -> str:
        """The model's display name."""
        return self.lm.name

    def _prompt_ids(self, prompt: str) -> list[int]:
        tok = self.lm.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                           add_generation_prompt=True)
            return list(tok(str(text), add_special_tokens=False)["input_ids"])
        return list(tok(prompt)["input_ids"])

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig, steering: BatchSteering | None = None,
                 **generate_kwargs: Any) -> list[list[str]]:
        """`n` completions per prompt, generated `cfg.batch_size` sequences at a time (left-padded).

        `steering` (optional) steers each batch row as its prompt asks; `generate_kwargs` go to
        transformers' `generate` (e.g. min_new_tokens for benchmarks).
        """
        if n < 1:
            raise ValueError("n must be at least 1.")
        jobs = [(i, self._prompt_ids(p)) for i, p in enumerate(prompts) for _ in range(n)]
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
            for row, (prompt_index, _) in enumerate(batch):
                text = self.lm.tokenizer.decode(generated[row, width:], skip_special_tokens=True)
                out[prompt_index].append(str(text).strip())
        return out


class OpenAIGenerator:
    """An OpenAI-compatible `/chat/completions` endpoint (vLLM, llama.cpp server, Ollama, hosted APIs)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0,
                 retries: int = 3, backoff_s: float = 1.0) -> None:
        self.base_url, self.model, self.api_key = base_url.rstrip("/"), model, api_key
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s

    @property
    def name(self) -> str:
        """`model@endpoint`."""
        return f"{self.model}@{self.base_url}"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        last = ""
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    data: dict[str, Any] = json.loads(response.read().decode("utf-8"))
                    return data
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
                if exc.code not in (408, 429) and exc.code < 500:  # a client error will not fix itself
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            except json.JSONDecodeError as exc:
                raise FacError(f"{self.base_url} answered with something that is not JSON: {exc}.") from exc
            if attempt < self.retries:
                wait = self.backoff_s * 2**attempt
                log.warning("generator endpoint %s failed (%s); retrying in %.1f s", self.base_url, last, wait)
                time.sleep(wait)
        raise FacError(f"Cannot reach the generator endpoint {self.base_url} ({last}); check that it is running "
                       "and the base URL ends before /chat/completions.")

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]:
        """`n` completions per prompt (one request per prompt, `n` choices each)."""
        out = []
        for prompt in prompts:
            data = self._post({"model": self.model, "messages": [{"role": "user", "content": prompt}], "n": n,
                               "temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_new_tokens,
                               "seed": cfg.seed})
            try:
                texts = [str(choice["message"]["content"] or "").strip() for choice in data["choices"]]
            except (KeyError, TypeError) as exc:
                raise FacError(f"{self.base_url} returned no choices/message/content: {str(data)[:200]}") from exc
            out.append(texts)
        return out
