"""Any OpenAI-compatible `/chat/completions` endpoint (vLLM, llama.cpp server, Ollama, hosted APIs),
through the `openai` SDK: its connection pool, retries with backoff (Retry-After honoured) and timeouts.

Requests run concurrently (`concurrency` in flight, threads over one SDK client), because serving
engines batch the requests they hold: one at a time uses a vLLM server at a small fraction of its
throughput. Servers that ignore `n` (llama.cpp's, Ollama's) return one choice; the shortfall is
filled with one request per missing sample, each with its own seed so the samples differ, and later
calls send one request per sample at once. Every failure is one sentence naming the endpoint.

Replies are never pre-filled here (this class is not `Prefills`, llm/protocol.py): continuing a
partial assistant turn is a server-specific extension of the chat API (vLLM's
`continue_final_message`, a trailing assistant message elsewhere, ignored by others), so a
prompt that works with pre-fill on the local backend is sent alone, framing included.
"""

import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, NamedTuple

import openai

from fac_engine.errors import FacError
from fac_engine.llm.protocol import GenerationConfig, TokenUsage
from fac_engine.log import get_logger

log = get_logger(__name__)

DEFAULT_CONCURRENCY = 16
"""Requests in flight at once (what `--concurrency` defaults to)."""
SDK_FIRST_RETRY_S = 0.5
"""The SDK's first backoff (openai._constants.INITIAL_RETRY_DELAY); later ones double, up to 8 s."""
NO_KEY = "no-key"
"""Sent when no API key is set: local servers ignore it, and the SDK refuses to run without one."""


class _Client(openai.OpenAI):
    """The SDK client with its exponential backoff scaled (tests use 0); Retry-After still wins."""

    def __init__(self, *, backoff_scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._backoff_scale = backoff_scale

    def _calculate_retry_timeout(self, remaining_retries: int, options: Any, response_headers: Any = None) -> float:
        wait_s = float(super()._calculate_retry_timeout(remaining_retries, options, response_headers))
        if self._parse_retry_after_header(response_headers) is not None:
            return wait_s
        return wait_s * self._backoff_scale


class _Request(NamedTuple):
    prompt: int
    """Index of the prompt."""
    n: int
    seed: int


class OpenAIGenerator:
    """An OpenAI-compatible endpoint; `generate` sends up to `concurrency` requests at once."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0,
                 retries: int = 3, backoff_s: float = SDK_FIRST_RETRY_S, concurrency: int = DEFAULT_CONCURRENCY,
                 key_env: str = "OPENAI_API_KEY") -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1.")
        self.base_url, self.model, self.concurrency = base_url.rstrip("/"), model, concurrency
        self.timeout_s, self.retries, self.key_env, self.has_key = timeout_s, retries, key_env, bool(api_key)
        # The SDK's own connection pool (up to 1,000 connections) holds every request in flight.
        self._client = _Client(base_url=self.base_url, api_key=api_key or NO_KEY, timeout=timeout_s,
                               max_retries=retries, backoff_scale=backoff_s / SDK_FIRST_RETRY_S)
        self._lock = threading.Lock()
        self._usage = TokenUsage()
        self.honours_n: bool | None = None
        """Whether the server returns `n` choices per request (None until a request with n > 1 tells)."""

    @property
    def name(self) -> str:
        """`model@endpoint`."""
        return f"{self.model}@{self.base_url}"

    @property
    def usage(self) -> TokenUsage:
        """Requests and tokens used by this generator so far (the server's own counts)."""
        with self._lock:
            return self._usage

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]:
        """`n` completions per prompt, in prompt order."""
        if n < 1:
            raise ValueError("n must be at least 1.")
        out: list[list[str]] = [[] for _ in prompts]
        seed = _seeds(prompts, n, cfg.seed)
        if self.honours_n is False:
            requests = [_Request(p, 1, seed[p] + j) for p in range(len(prompts)) for j in range(n)]
        else:
            requests = [_Request(p, n, seed[p]) for p in range(len(prompts))]
        while requests:
            for request, texts in zip(requests, self._run(prompts, requests, cfg), strict=True):
                out[request.prompt].extend(texts[: n - len(out[request.prompt])])
            requests = self._fill(out, n, seed)
        return out

    def _fill(self, out: list[list[str]], n: int, seed: list[int]) -> list[_Request]:
        """One request per missing sample (the server returned fewer choices than `n`)."""
        short = [p for p, texts in enumerate(out) if len(texts) < n]  # only when n > 1: every request gets a choice
        if short and self.honours_n is not False:
            log.warning("%s returned fewer than n=%d choices per request; asking one sample per request from now on",
                        self.base_url, n)
            self.honours_n = False
        elif n > 1 and self.honours_n is None:
            self.honours_n = True
        return [_Request(p, 1, seed[p] + j) for p in short for j in range(len(out[p]), n)]

    def _run(self, prompts: Sequence[str], requests: list[_Request], cfg: GenerationConfig) -> list[list[str]]:
        """The choices of every request, `concurrency` at a time; the first failure cancels the rest."""
        if len(requests) == 1 or self.concurrency == 1:
            return [self._one(prompts[r.prompt], r, cfg) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            futures: list[Future[list[str]]] = [pool.submit(self._one, prompts[r.prompt], r, cfg) for r in requests]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                for future in futures:
                    future.cancel()
                raise failed.exception()  # type: ignore[misc]
            return [f.result() for f in futures]

    def _one(self, prompt: str, request: _Request, cfg: GenerationConfig) -> list[str]:
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], n=request.n,
                temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_new_tokens, seed=request.seed)
            data = raw.http_response.json()
        except openai.APIError as exc:
            raise self._error(exc) from exc
        except ValueError as exc:
            raise FacError(f"{self.base_url} answered with something that is not JSON: {exc}.") from exc
        try:
            texts = [str(choice["message"]["content"] or "").strip() for choice in data["choices"]]
        except (KeyError, TypeError) as exc:
            raise FacError(f"{self.base_url} returned no choices/message/content: {str(data)[:200]}") from exc
        if not texts:
            raise FacError(f"{self.base_url} returned no choices for a request (model {self.model!r}).")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        with self._lock:
            self._usage = self._usage.plus(1, int(usage.get("prompt_tokens") or 0),
                                           int(usage.get("completion_tokens") or 0))
        return texts

    def _error(self, exc: openai.APIError) -> FacError:
        """One sentence for the user: what failed, where, and what to check."""
        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return FacError(f"The generator endpoint {url} did not answer within {self.timeout_s:g} s "
                            f"({self.retries} retries); raise --timeout or check the server's load.")
        if isinstance(exc, openai.APIConnectionError):
            cause = str(exc.__cause__ or exc.message).strip() or type(exc.__cause__).__name__
            return FacError(f"Cannot reach the generator endpoint {url} ({cause}); check that it is running "
                            "and the base URL ends before /chat/completions.")
        if not isinstance(exc, openai.APIStatusError):
            return FacError(f"The generator endpoint {url} failed: {exc.message}.")
        code, detail = exc.status_code, _detail(exc)
        if code in (401, 403):
            key = (f"the key in ${self.key_env} was refused" if self.has_key
                   else f"no API key was sent (${self.key_env} is not set)")
            return FacError(f"The generator endpoint {url} answered HTTP {code} ({detail}): {key}; set a valid key "
                            f"in ${self.key_env} or name another variable with --api-key-env.")
        if code == 404:
            return FacError(f"The generator endpoint {url} answered HTTP 404 ({detail}): it does not serve the model "
                            f"{self.model!r} (check --gen-model against {url}/models) or the base URL does not end "
                            "in /v1.")
        retried = f" after {self.retries} retries" if code in (408, 409, 429) or code >= 500 else ""
        return FacError(f"The generator endpoint {url} answered HTTP {code}{retried} ({detail}).")


def _seeds(prompts: Sequence[str], n: int, seed: int) -> list[int]:
    """The first seed of each prompt's samples: a repeated prompt text continues where its previous copy's
    samples end, so seed-honouring servers (llama.cpp, vLLM) do not return the same text for every copy."""
    seen: dict[str, int] = {}
    out = []
    for prompt in prompts:
        copies = seen.get(prompt, 0)
        out.append(seed + copies * n)
        seen[prompt] = copies + 1
    return out


def _detail(exc: openai.APIStatusError) -> str:
    """The server's own message, on one line (vLLM and OpenAI: error.message; Ollama: error; FastAPI: detail)."""
    body = exc.body
    message = (body.get("message") or body.get("detail") or body.get("error")) if isinstance(body, dict) else body
    text = str(message or exc.response.reason_phrase or "no message").replace("\n", " ").strip()
    return text[:200]
