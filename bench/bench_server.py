"""Benchmark: candidates/s against one real OpenAI-compatible server with 1 request in flight vs 16.

    .venv/bin/python bench/bench_server.py [--prompts 16] [--n 2] [--tokens 48] [--threads 2] [--repeats 3]

Starts llama-cpp-python's server (requirements-server.txt) on the embedded SmolLM2 GGUF, warms it
up, then generates the same prompts with the same seeds at each concurrency through the one
client every verb uses (fac_engine/llm/openai_client.py), in the same run. llama-cpp-python's
server holds one model behind one lock: it answers one request at a time, so concurrency only
overlaps the HTTP and JSON work with generation (servers that batch, such as vLLM, gain far more).
"""

import argparse
import statistics
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
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each setting; the median counts")
    args = parser.parse_args()
    prompts = [f"Write one short question a user might ask a chatbot about {TOPICS[i % len(TOPICS)]}."
               for i in range(args.prompts)]
    cfg = GenerationConfig(max_new_tokens=args.tokens, seed=0)
    seconds: dict[int, list[float]] = {c: [] for c in args.concurrency}
    counts: dict[int, tuple[int, int, int]] = {}
    with llama_server(embedded_gguf_path(), threads=args.threads) as url:
        gen = OpenAIGenerator(url, "smollm2", timeout_s=600, concurrency=max(args.concurrency))
        gen.generate(prompts[:2], args.n, cfg)  # warm-up; also learns whether the server honours n
        for rep in range(args.repeats):  # alternating order: a load spike on the shared machine hits both
            for concurrency in args.concurrency[:: 1 if rep % 2 == 0 else -1]:
                gen.concurrency = concurrency
                before = gen.usage
                started = time.perf_counter()
                out = gen.generate(prompts, args.n, cfg)
                seconds[concurrency].append(time.perf_counter() - started)
                used = gen.usage.since(before)
                counts[concurrency] = (sum(len(x) for x in out), used.requests, used.completion_tokens)
    print(f"llama-cpp-python server, SmolLM2-135M-Instruct Q4_1 GGUF, {args.threads} threads; {args.prompts} prompts "
          f"x {args.n} candidates, <= {args.tokens} new tokens, same seeds; {args.repeats} alternating repeats")
    print("| concurrency | candidates | requests | completion tokens | seconds (median; each run) | candidates/s |")
    print("|---|---|---|---|---|---|")
    rate = {}
    for concurrency in args.concurrency:
        candidates, requests, tokens = counts[concurrency]
        median = statistics.median(seconds[concurrency])
        rate[concurrency] = candidates / median
        runs = ", ".join(f"{x:.1f}" for x in seconds[concurrency])
        print(f"| {concurrency} | {candidates} | {requests} | {tokens:,} | {median:.1f} ({runs}) | "
              f"{rate[concurrency]:.2f} |")
    first, last = args.concurrency[0], args.concurrency[-1]
    print(f"| ratio {last} vs {first} | | | | | {rate[last] / rate[first]:.2f}x |")


if __name__ == "__main__":
    main()
