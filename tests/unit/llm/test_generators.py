"""Generator backends: the local one on the tiny model, the HTTP one against a local fake endpoint."""

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fac_engine.errors import FacError
from fac_engine.llm.generators import GenerationConfig, LocalGenerator, OpenAIGenerator
from fac_engine.llm.protocol import Prefills, generate_replies, prefill_for
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec


def test_local_generator_counts_and_seed(tiny_model_dir: Path) -> None:
    gen = LocalGenerator(load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32")))
    cfg = GenerationConfig(max_new_tokens=4, batch_size=3, seed=7)
    first = gen.generate(["the cat", "hello world is"], n=2, cfg=cfg)
    assert [len(x) for x in first] == [2, 2]
    assert all(isinstance(t, str) for texts in first for t in texts)
    assert gen.generate(["the cat", "hello world is"], n=2, cfg=cfg) == first  # same seed, same samples
    assert gen.name == "tiny-llama"


def test_local_generator_prefills_the_assistant_turn(tiny_model_dir: Path) -> None:
    gen = LocalGenerator(load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32")))
    assert gen.prefill_chat("the cat", "the dog") == ("<|im_start|>user the cat<|im_end|> "
                                                     "<|im_start|>assistant the dog")
    # Without a pre-fill the chat renders as before: the template's own generation prompt.
    plain = gen.lm.tokenizer.apply_chat_template([{"role": "user", "content": "the cat"}], tokenize=False,
                                                 add_generation_prompt=True)
    assert gen.prefill_chat("the cat", "") == plain == "<|im_start|>user the cat<|im_end|> <|im_start|>assistant "
    assert isinstance(gen, Prefills) and prefill_for(gen, "the dog") == "the dog"
    cfg = GenerationConfig(max_new_tokens=3, batch_size=4, seed=7)
    replies = gen.generate(["the cat", "hello"], n=2, cfg=cfg, prefill="the dog")
    assert all(r.startswith("the dog") for texts in replies for r in texts)
    assert generate_replies(gen, ["the cat", "hello"], 2, cfg, prefill="the dog") == replies
    # The pre-fill is the start of what the model continues: the same ids as the rendered text with it.
    ids = gen.lm.tokenizer("<|im_start|>user the cat<|im_end|> <|im_start|>assistant the dog",
                           add_special_tokens=False)["input_ids"]
    assert gen._prompt_ids("the cat", "the dog") == ids
    assert gen._prompt_ids("the cat", "") == gen.lm.tokenizer(plain, add_special_tokens=False)["input_ids"]
    assert generate_replies(gen, ["the cat"], 1, cfg) == gen.generate(["the cat"], 1, cfg)


class _Fake(BaseHTTPRequestHandler):
    plan: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body | {"auth": self.headers.get("Authorization")})
        status = type(self).plan.pop(0) if type(self).plan else 200
        self.send_response(status)
        self.end_headers()
        if status == 200:
            choices = [{"message": {"content": f" {body['messages'][0]['content']} #{i} "}} for i in range(body["n"])]
            self.wfile.write(json.dumps({"choices": choices}).encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Fake.plan, _Fake.bodies = [], []
    server = HTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_http_generator_sends_the_paper_defaults(endpoint: str) -> None:
    gen = OpenAIGenerator(endpoint, "m", api_key="k", backoff_s=0.0)
    assert gen.generate(["hi", "yo"], n=2, cfg=GenerationConfig()) == [["hi #0", "hi #1"], ["yo #0", "yo #1"]]
    body = _Fake.bodies[0]
    assert (body["model"], body["n"], body["temperature"], body["top_p"], body["auth"]) == ("m", 2, 0.8, 0.9,
                                                                                          "Bearer k")


def test_http_generator_is_never_prefilled(endpoint: str) -> None:
    gen = OpenAIGenerator(endpoint, "m", api_key="k", backoff_s=0.0)
    assert not isinstance(gen, Prefills) and prefill_for(gen, "Query:") == ""
    assert generate_replies(gen, ["hi"], 1, GenerationConfig(), prefill="Query:") == [["hi #0"]]
    assert _Fake.bodies[0]["messages"] == [{"role": "user", "content": "hi"}]  # the prompt alone, no assistant turn


def test_http_generator_retries_server_errors(endpoint: str) -> None:
    _Fake.plan = [503, 500]
    gen = OpenAIGenerator(endpoint, "m", retries=2, backoff_s=0.0)
    assert gen.generate(["hi"], n=1, cfg=GenerationConfig()) == [["hi #0"]]
    assert len(_Fake.bodies) == 3


def test_http_generator_gives_up_clearly(endpoint: str) -> None:
    _Fake.plan = [400]
    with pytest.raises(FacError, match=r"HTTP 400"):
        OpenAIGenerator(endpoint, "m", retries=3, backoff_s=0.0).generate(["x"], 1, GenerationConfig())
    assert len(_Fake.bodies) == 1  # a client error is not retried
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(FacError, match="Cannot reach the generator endpoint"):
        OpenAIGenerator(dead, "m", retries=1, backoff_s=0.0, timeout_s=2).generate(["x"], 1, GenerationConfig())


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="temperature"):
        GenerationConfig(temperature=0)
