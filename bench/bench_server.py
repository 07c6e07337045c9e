"""Benchmark: candidates/s against one real OpenAI-compatible server with 1 request in flight vs 16.

    .venv/bin/python bench/bench_server.py [--prompts 16] [--n 2] [--tokens 48] [--workers 1] [--threads 2]

Starts llama-cpp-python's server (requirements-server.txt) on the embedded SmolLM2 GGUF, warms it
up, then generates the same prompts with the same seeds at each concurrency through the one
client every verb uses (fac_engine/llm/openai_client.py), in the same run. llama-cpp-python's
server holds one model behind one lock: it answers one request at a time, so concurrency only
overlaps the HTTP and JSON work; `--workers 2` runs two server processes behind the port (each
its own model copy, `--threads` each), a small stand-in for a server that batches requests.
"""

import argparse
import time

from fac_engine.llm.llama_server import llama_server
from fac_engine.llm.openai_client import OpenAIGenerator
from fac_engine.llm.protocol import GenerationConfig
from fac_engine.models.embedded import embedded_gguf_path

TOPICS = ["cooking", "the weather", "train tickets", "a broken phone", "tax forms", "a job interview", "gardening",
          "a birthday party", "learning French", "a car repair", "sleep problems", "a hiking trip", "a lost parcel",
          "renting a flat", "a chess opening", "a school essay"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=2, help="candidates per prompt")
    parser.add_argument("--tokens", type=int, default=48, help="max new tokens per candidate")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, default=1, help="server processes behind the port")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads per server process")
    args = parser.parse_args()
    prompts = [f"Write one short question a user might ask a chatbot about {TOPICS[i % len(TOPICS)]}."
               for i in range(args.prompts)]
    cfg = GenerationConfig(max_new_tokens=args.tokens, seed=0)
    rows = []
    with llama_server(embedded_gguf_path(), threads=args.threads, workers=args.workers) as url:
        gen = OpenAIGenerator(url, "smollm2", timeout_s=600, concurrency=max(args.concurrency))
        gen.generate(prompts[: 2 * args.workers], args.n, cfg)  # warm-up: every worker loaded; learns n is ignored
        for concurrency in args.concurrency:
            gen.concurrency = concurrency
            before = gen.usage
            started = time.perf_counter()
            out = gen.generate(prompts, args.n, cfg)
            seconds = time.perf_counter() - started
            used = gen.usage.since(before)
            rows.append((concurrency, sum(len(x) for x in out), used.requests, used.completion_tokens, seconds))
    print(f"llama-cpp-python server, SmolLM2-135M-Instruct Q4_1 GGUF, {args.workers} process(es) x {args.threads} "
          f"threads; {args.prompts} prompts x {args.n} candidates, <= {args.tokens} new tokens, same seeds")
    print("| concurrency | candidates | requests | completion tokens | seconds | candidates/s |")
    print("|---|---|---|---|---|---|")
    for concurrency, candidates, requests, tokens, seconds in rows:
        rate = candidates / seconds
        print(f"| {concurrency} | {candidates} | {requests} | {tokens:,} | {seconds:.1f} | {rate:.2f} |")
    first, last = rows[0], rows[-1]
    print(f"| ratio {last[0]} vs {first[0]} | | | | | {(last[1] / last[4]) / (first[1] / first[4]):.2f}x |")


if __name__ == "__main__":
    main()
