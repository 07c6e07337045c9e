"""A local OpenAI-compatible server: llama-cpp-python's `llama_cpp.server` on a GGUF file.

Optional (requirements-server.txt; pip compiles llama-cpp-python from source, for minutes). The
`server` tests and bench/bench_server.py run the real client against it; a user can point
`fac synthesize --backend openai` at it the same way (README, "Generating with a served model").
llama-cpp-python's server answers one request at a time (one model, one lock) and returns one
choice whatever `n` asks; the client fills `n` with one request per sample.
"""

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fac_engine.errors import FacError

START_TIMEOUT_S = 180.0
"""Seconds to wait for the server to load the model and answer."""


def llama_server_available() -> bool:
    """Whether llama-cpp-python and its server extra are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "uvicorn", "fastapi",
                                                                       "sse_starlette", "pydantic_settings"))


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def llama_server(model: Path, *, threads: int = 2, n_ctx: int = 2048, log: Path | None = None) -> Iterator[str]:
    """Serve `model` (llama.cpp using `threads` threads) on a free local port for the duration of the block;
    yields the base URL (.../v1)."""
    if not llama_server_available():
        raise FacError("llama-cpp-python with its server extra is not installed; run: pip install -r "
                       "requirements-server.txt (it compiles from source, for minutes).")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port",
           str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads)]
    with ExitStack() as stack:
        out = stack.enter_context(log.open("w", encoding="utf-8")) if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait_until_ready(process, base_url, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _ready(base_url):
        if process.poll() is not None:
            raise FacError(f"llama_cpp.server exited with code {process.returncode} before serving"
                           + (f"; see {log}" if log is not None else "") + ".")
        if time.monotonic() > deadline:
            raise FacError(f"llama_cpp.server did not answer on {base_url} within {START_TIMEOUT_S:g} s.")
        time.sleep(0.25)
