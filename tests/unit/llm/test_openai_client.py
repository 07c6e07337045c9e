"""The openai-SDK client against a local threaded fake: concurrency, servers that ignore `n`, token usage,
and one clear sentence per failure (401, unknown model, timeout)."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from fac_engine.errors import FacError
from fac_engine.llm.backend import BackendSpec, make_generator
from fac_engine.llm.openai_client import OpenAIGenerator
from fac_engine.llm.protocol import GenerationConfig, TokenUsage, token_usage


class _Server(BaseHTTPRequestHandler):
    honour_n: ClassVar[bool] = True
    status: ClassVar[int] = 200
    error_body: ClassVar[dict[str, Any] | None] = None
    barrier: ClassVar[threading.Barrier | None] = None
    delay_s: ClassVar[float] = 0.0
    bodies: ClassVar[list[dict[str, Any]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()
    active: ClassVar[int] = 0
    most_active: ClassVar[int] = 0

    def do_POST(self) -> None:
        cls = type(self)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with cls.lock:
            cls.bodies.append(body | {"auth": self.headers.get("Authorization")})
            cls.active += 1
            cls.most_active = max(cls.most_active, cls.active)
        try:
            if cls.barrier is not None:
                cls.barrier.wait()  # raises BrokenBarrierError unless `parties` requests are in flight at once
            time.sleep(cls.delay_s)
            self._answer(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout test)
        finally:
            with cls.lock:
                cls.active -= 1

    def _answer(self, body: dict[str, Any]) -> None:
        cls = type(self)
        self.send_response(cls.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if cls.status != 200:
            self.wfile.write(json.dumps(cls.error_body or {}).encode())
            return
        n = body["n"] if cls.honour_n else 1
        prompt = body["messages"][0]["content"]
        choices = [{"message": {"content": f"{prompt} s{body['seed']}.{i}"}} for i in range(n)]
        usage = {"prompt_tokens": 5, "completion_tokens": 7 * n, "total_tokens": 5 + 7 * n}
        self.wfile.write(json.dumps({"choices": choices, "usage": usage}).encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Server.honour_n, _Server.status, _Server.error_body, _Server.barrier, _Server.delay_s = True, 200, None, None, 0
    _Server.bodies, _Server.active, _Server.most_active = [], 0, 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    if _Server.barrier is not None:
        _Server.barrier.abort()
    httpd.shutdown()


PROMPTS = [f"p{i}" for i in range(8)]


def test_requests_run_concurrently(server: str) -> None:
    _Server.barrier = threading.Barrier(8, timeout=20)  # all eight must be in flight together to pass
    gen = OpenAIGenerator(server, "m", retries=0, concurrency=8, timeout_s=30)
    out = gen.generate(PROMPTS, 2, GenerationConfig())
    assert out == [[f"{p} s0.0", f"{p} s0.1"] for p in PROMPTS]  # in prompt order
    assert _Server.most_active == 8


def test_concurrency_one_sends_one_request_at_a_time(server: str) -> None:
    gen = OpenAIGenerator(server, "m", concurrency=1)
    assert gen.generate(PROMPTS, 1, GenerationConfig()) == [[f"{p} s0.0"] for p in PROMPTS]
    assert _Server.most_active == 1 and len(_Server.bodies) == 8


def test_a_server_that_ignores_n_is_filled_with_one_request_per_sample(server: str) -> None:
    _Server.honour_n = False
    gen = OpenAIGenerator(server, "m", concurrency=4)
    cfg = GenerationConfig(seed=10)
    assert gen.generate(["a", "b"], 3, cfg) == [["a s10.0", "a s11.0", "a s12.0"], ["b s10.0", "b s11.0", "b s12.0"]]
    assert sorted(b["n"] for b in _Server.bodies) == [1, 1, 1, 1, 3, 3]  # asked for 3 once, then filled
    assert gen.honours_n is False
    _Server.bodies = []
    assert gen.generate(["c"], 2, cfg) == [["c s10.0", "c s11.0"]]
    assert [b["n"] for b in _Server.bodies] == [1, 1]  # now one request per sample straight away


def test_token_usage_is_counted_from_the_server(server: str) -> None:
    gen = OpenAIGenerator(server, "m")
    gen.generate(["a", "b", "c"], 2, GenerationConfig())
    assert gen.usage == TokenUsage(requests=3, prompt_tokens=15, completion_tokens=42)
    assert token_usage(gen) == gen.usage
    assert gen.usage.since(TokenUsage(1, 5, 14)).describe() == "2 requests, 10 prompt + 28 completion tokens"
    assert token_usage(object()) is None


def test_a_refused_key_names_the_variable(server: str) -> None:
    _Server.status, _Server.error_body = 401, {"error": {"message": "Incorrect API key provided"}}
    with pytest.raises(FacError, match=r"HTTP 401 \(Incorrect API key provided\): the key in \$MY_KEY was refused"):
        OpenAIGenerator(server, "m", api_key="bad", key_env="MY_KEY").generate(["x"], 1, GenerationConfig())
    assert len(_Server.bodies) == 1 and _Server.bodies[0]["auth"] == "Bearer bad"  # not retried
    with pytest.raises(FacError, match=r"no API key was sent \(\$MY_KEY is not set\)"):
        OpenAIGenerator(server, "m", key_env="MY_KEY").generate(["x"], 1, GenerationConfig())


def test_an_unknown_model_is_named(server: str) -> None:
    _Server.status = 404
    _Server.error_body = {"object": "error", "message": "The model `llama` does not exist.", "type": "NotFoundError"}
    with pytest.raises(FacError, match=r"HTTP 404 \(The model `llama` does not exist.\): it does not serve the model "
                                       r"'llama' \(check --gen-model"):
        OpenAIGenerator(server, "llama").generate(["x"], 1, GenerationConfig())


def test_a_slow_server_times_out_clearly(server: str) -> None:
    _Server.delay_s = 2.0
    with pytest.raises(FacError, match=r"did not answer within 0.2 s \(0 retries\); raise --timeout"):
        OpenAIGenerator(server, "m", timeout_s=0.2, retries=0).generate(["x"], 1, GenerationConfig())


def test_backend_spec_carries_concurrency_to_the_client(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAC_TEST_KEY", "sekrit")
    gen = make_generator(BackendSpec(kind="openai", model="m", base_url=server, api_key_env="FAC_TEST_KEY",
                                     concurrency=3))
    assert isinstance(gen, OpenAIGenerator) and gen.concurrency == 3
    gen.generate(["x"], 1, GenerationConfig())
    assert _Server.bodies[0]["auth"] == "Bearer sekrit"
    with pytest.raises(ValueError, match="concurrency must be between 1 and 1024"):
        BackendSpec(kind="openai", model="m", base_url=server, concurrency=0)


def test_repeated_prompts_get_their_own_seeds(server: str) -> None:
    gen = OpenAIGenerator(server, "m")
    assert gen.generate(["a", "a", "b", "a"], 2, GenerationConfig(seed=5)) == [
        ["a s5.0", "a s5.1"], ["a s7.0", "a s7.1"], ["b s5.0", "b s5.1"], ["a s9.0", "a s9.1"]]
