"""harvest_activations on the tiny Llama: content tokens only, batched = unbatched, padding never counted.

With the tiny chat template a text of w words renders as `<|im_start|> user w1 .. ww <|im_end|>`:
t0 = 2 and w content tokens (the closing <|im_end|> is a template suffix, never content, as in FAC pooling).
"""

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from fac_engine.models import harvest
from fac_engine.models.activation_cache import ShardedActivations
from fac_engine.models.capture import residual_stream
from fac_engine.models.harvest import (
    CPU_TOKEN_BUDGET,
    GPU_TOKEN_BUDGET,
    default_token_budget,
    harvest_activations,
    harvest_to_shards,
)
from fac_engine.models.loader import LoadedModel
from fac_engine.models.template import encode_text
from tests.conftest import TINY_HIDDEN, TINY_LAYERS

TEXTS = [
    "hello world",
    "the cat sat on the mat .",
    "red",
    "is it good ?",
    "you are a very helpful model and the dog is not bad",
]
CONTENT_TOKENS = [2, 7, 1, 4, 12]
"""Words per text (see the module docstring); 26 in all."""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def lm(tiny_model: LlamaForCausalLM, tiny_tokenizer: PreTrainedTokenizerFast) -> LoadedModel:
    return LoadedModel(tiny_model, tiny_tokenizer, "tiny", "tiny@0", TINY_HIDDEN, TINY_LAYERS, torch.device("cpu"),
                       torch.float32)


def reference(lm: LoadedModel, texts: Sequence[str], layer: int, *, chat: bool = True, max_length: int = 256,
              chunk: int = harvest.TEXTS_PER_CHUNK) -> torch.Tensor:
    """Each text alone (no padding at all), content rows only, in harvest's order: within each chunk
    of texts, longest first (ties in input order), as batches_by_token_budget takes them."""
    encoded = [encode_text(lm.tokenizer, t, chat=chat, max_length=max_length) for t in texts]
    order = []
    for start in range(0, len(texts), chunk):
        rows = range(start, min(start + chunk, len(texts)))
        order += sorted(rows, key=lambda i: (-len(encoded[i].ids), i))
    parts = []
    for i in order:
        ids = torch.tensor([encoded[i].ids])
        acts = residual_stream(lm.model, ids, torch.ones_like(ids), layer)[0]
        parts.append(acts[torch.tensor(encoded[i].content())])
    return torch.cat(parts).to(torch.bfloat16)


def assert_same_rows(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to one bf16 rounding step of float32 noise (different batch shapes sum differently)."""
    assert got.shape == expected.shape and got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), rtol=2**-7, atol=1e-5)


def test_content_token_counts_are_as_worked_out(lm: LoadedModel) -> None:
    encoded = [encode_text(lm.tokenizer, t, chat=True, max_length=256) for t in TEXTS]
    assert [e.content_start for e in encoded] == [2] * 5
    assert [sum(e.content()) for e in encoded] == CONTENT_TOKENS


@pytest.mark.parametrize("layer", [0, 1, TINY_LAYERS])
def test_batched_harvest_equals_single_text_runs(lm: LoadedModel, layer: int) -> None:
    got = harvest_activations(lm, TEXTS, layer=layer, max_tokens=1000)
    assert got.shape == (sum(CONTENT_TOKENS), TINY_HIDDEN)
    assert_same_rows(got, reference(lm, TEXTS, layer))


@pytest.mark.parametrize("budget", [1, 20, 100_000])
def test_token_budget_changes_batching_not_results(lm: LoadedModel, budget: int) -> None:
    # Budget 1: every text alone; 20: a few per batch; 100000: one batch padded to 15 tokens.
    got = harvest_activations(lm, TEXTS, layer=2, max_tokens=1000, token_budget=budget)
    assert_same_rows(got, reference(lm, TEXTS, 2))


def test_padding_never_contributes(lm: LoadedModel) -> None:
    # One long text padded next to four one-word texts: 4 * 13 padded positions, none harvested.
    texts = ["you are a very helpful model and the dog is not bad", "red", "blue", "green", "cat"]
    got = harvest_activations(lm, texts, layer=2, max_tokens=1000, token_budget=10_000)
    assert got.shape[0] == 12 + 4 * 1  # words only
    assert_same_rows(got, reference(lm, texts, 2))


def test_chunks_are_ordered_one_after_another(lm: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harvest, "TEXTS_PER_CHUNK", 2)
    got = harvest_activations(lm, TEXTS, layer=1, max_tokens=1000)
    assert_same_rows(got, reference(lm, TEXTS, 1, chunk=2))


def test_max_tokens_cuts_the_run(lm: LoadedModel) -> None:
    full = harvest_activations(lm, TEXTS, layer=1, max_tokens=1000)
    for cap in (1, 12, sum(CONTENT_TOKENS) - 1, sum(CONTENT_TOKENS)):
        capped = harvest_activations(lm, TEXTS, layer=1, max_tokens=cap)
        assert capped.shape == (cap, TINY_HIDDEN)
        assert torch.equal(capped, full[:cap])


def test_stops_reading_texts_once_full(lm: LoadedModel) -> None:
    read: list[str] = []

    def texts() -> Iterator[str]:
        for i in range(10_000):
            read.append("x")
            yield TEXTS[i % len(TEXTS)]

    got = harvest_activations(lm, texts(), layer=1, max_tokens=5)
    assert got.shape == (5, TINY_HIDDEN)
    assert len(read) == harvest.TEXTS_PER_CHUNK  # the first chunk filled it; no second chunk was read


def test_plain_text_has_no_template_prefix(lm: LoadedModel) -> None:
    got = harvest_activations(lm, TEXTS, layer=1, max_tokens=1000, chat=False)
    assert got.shape[0] == sum(CONTENT_TOKENS)  # the words only, as in chat: no <|im_end|>
    assert_same_rows(got, reference(lm, TEXTS, 1, chat=False))


def test_truncation_keeps_the_first_tokens(lm: LoadedModel) -> None:
    # max_length 4 keeps <|im_start|> user w1 w2 (or w1 <|im_end|>): 2 content tokens per text, 1 for "red".
    got = harvest_activations(lm, TEXTS, layer=1, max_tokens=1000, max_length=4)
    assert got.shape[0] == 2 * len(TEXTS) - 1
    assert_same_rows(got, reference(lm, TEXTS, 1, max_length=4))


def test_progress_reports_tokens_collected(lm: LoadedModel) -> None:
    calls: list[tuple[int, int]] = []
    harvest_activations(lm, TEXTS, layer=1, max_tokens=1000, token_budget=1,
                        progress=lambda done, wanted: calls.append((done, wanted)))
    # One call per batch (here per text, longest first): cumulative content tokens.
    assert calls == [(12, 1000), (19, 1000), (23, 1000), (25, 1000), (26, 1000)]


def test_no_texts_give_an_empty_tensor(lm: LoadedModel) -> None:
    got = harvest_activations(lm, [], layer=1, max_tokens=10)
    assert got.shape == (0, TINY_HIDDEN) and got.dtype == torch.bfloat16


def test_default_token_budget() -> None:
    assert default_token_budget(torch.device("cpu")) == CPU_TOKEN_BUDGET == 2048
    assert default_token_budget(torch.device("cuda", 0)) == GPU_TOKEN_BUDGET == 32768


# harvest_to_shards: the same activations, a shard at a time, resumable


def _store(folder: Path) -> ShardedActivations:
    return ShardedActivations(folder, {"model": "tiny@0", "layer": "1"})


MANY = [TEXTS[i % len(TEXTS)] + f" {i}" for i in range(23)]
"""23 texts: with chunks of 4 texts and shards of at least 20 rows, several shards."""


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harvest, "TEXTS_PER_CHUNK", 4)


@pytest.mark.usefixtures("small_chunks")
def test_shards_hold_exactly_the_in_memory_harvest(lm: LoadedModel, tmp_path: Path) -> None:
    store = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=10_000, shard_rows=20)
    assert store.complete
    assert torch.equal(store.load_all(), harvest_activations(lm, MANY, layer=1, max_tokens=10_000))
    # Shards end at chunk boundaries once they have 20 rows; the last one holds the rest.
    assert all(s.texts_end % 4 == 0 for s in store.shards[:-1]) and store.shards[-1].texts_end == 23
    assert all(rows >= 20 for rows in store.shard_rows[:-1])
    assert sorted(p.name for p in (tmp_path / "acts").iterdir()) == [
        "manifest.json", *(f"shard-{i:05d}.safetensors" for i in range(len(store.shards)))]


@pytest.mark.usefixtures("small_chunks")
def test_a_stopped_harvest_resumes_to_the_same_shards(lm: LoadedModel, tmp_path: Path) -> None:
    whole = harvest_to_shards(lm, MANY, _store(tmp_path / "whole"), layer=1, max_tokens=10_000, shard_rows=20)
    part = harvest_to_shards(lm, MANY, _store(tmp_path / "part"), layer=1, max_tokens=10_000, shard_rows=20,
                             stop=lambda: True)
    assert not part.complete and len(part.shards) == 1
    # A later sitting opens the folder afresh; a shard cut short by a kill is not in the manifest.
    (tmp_path / "part" / "shard-00001.safetensors").write_bytes(b"half a shard")
    resumed = harvest_to_shards(lm, MANY, _store(tmp_path / "part"), layer=1, max_tokens=10_000, shard_rows=20)
    assert resumed.complete and resumed.shards == whole.shards
    for i in range(len(whole.shards)):
        assert torch.equal(resumed.load(i), whole.load(i))
    again = harvest_to_shards(lm, MANY, _store(tmp_path / "part"), layer=1, max_tokens=10_000, shard_rows=20)
    assert again.shards == whole.shards  # complete: nothing more is read


@pytest.mark.usefixtures("small_chunks")
def test_max_tokens_cuts_the_sharded_run(lm: LoadedModel, tmp_path: Path) -> None:
    store = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=45, shard_rows=20)
    assert store.complete and store.rows == 45
    assert torch.equal(store.load_all(), harvest_activations(lm, MANY, layer=1, max_tokens=45))


def _same_shards(a: ShardedActivations, b: ShardedActivations) -> bool:
    return a.shard_rows == b.shard_rows and all(torch.equal(a.load(i), b.load(i)) for i in range(len(a.shards)))


@pytest.mark.usefixtures("small_chunks")
def test_a_larger_harvest_serves_a_smaller_target_and_keeps_its_rows(lm: LoadedModel, tmp_path: Path) -> None:
    harvest_to_shards(lm, MANY, _store(tmp_path / "big"), layer=1, max_tokens=45, shard_rows=20)
    scratch = harvest_to_shards(lm, MANY, _store(tmp_path / "scratch"), layer=1, max_tokens=30, shard_rows=20)
    small = harvest_to_shards(lm, MANY, _store(tmp_path / "big"), layer=1, max_tokens=30, shard_rows=20)
    assert (small.complete, small.rows, scratch.rows) == (True, 30, 30)
    assert _same_shards(small, scratch)
    assert torch.equal(small.load_all(), harvest_activations(lm, MANY, layer=1, max_tokens=30))
    # The folder still holds the 45 rows: asking for them again reads them, nothing is harvested.
    again = harvest_to_shards(lm, MANY, _store(tmp_path / "big"), layer=1, max_tokens=45, shard_rows=20)
    assert again.rows == 45 and not again.cut


@pytest.mark.usefixtures("small_chunks")
def test_a_harvest_that_ended_at_a_smaller_target_continues_exactly(lm: LoadedModel, tmp_path: Path) -> None:
    first = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=30, shard_rows=20)
    assert first.complete and first.target == 30
    more = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=45, shard_rows=20)
    scratch = harvest_to_shards(lm, MANY, _store(tmp_path / "scratch"), layer=1, max_tokens=45, shard_rows=20)
    assert more.complete and more.shards == scratch.shards and _same_shards(more, scratch)


@pytest.mark.usefixtures("small_chunks")
def test_a_stopped_harvest_with_more_rows_than_a_new_target_is_read_cut(lm: LoadedModel, tmp_path: Path) -> None:
    part = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=10_000, shard_rows=20,
                             stop=lambda: True)
    assert not part.complete and part.rows >= 20
    cut = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=15, shard_rows=20)
    assert (cut.complete, cut.shard_rows) == (True, [15])
    assert torch.equal(cut.load_all(), harvest_activations(lm, MANY, layer=1, max_tokens=15))


@pytest.mark.usefixtures("small_chunks")
def test_a_store_that_ran_out_of_texts_stays_complete(lm: LoadedModel, tmp_path: Path) -> None:
    whole = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=10_000, shard_rows=20)
    rows = whole.rows
    more = harvest_to_shards(lm, MANY, _store(tmp_path / "acts"), layer=1, max_tokens=20_000, shard_rows=20)
    assert (more.complete, more.rows, more.shards) == (True, rows, whole.shards)


def test_a_store_that_kept_its_target_in_the_key_opens_under_the_key_without_it(tmp_path: Path) -> None:
    folder = tmp_path / "acts"
    old = ShardedActivations(folder, {"model": "tiny@0", "layer": "1", "tokens": "45"})
    old.append(torch.ones(3, 2), texts_end=4)
    reopened = _store(folder)
    assert (reopened.target, reopened.rows, reopened.shard_rows) == (45, 3, [3])
