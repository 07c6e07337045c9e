"""Shared fixtures: a tiny tokenizer and a tiny random Llama, built offline in well under a second; the
checkout's git state at the start of the session, for the last test (tests/test_tree_unchanged.py)."""

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tests.tree_state import TreeState, tree_state

if TYPE_CHECKING:
    from tests.unit.crossmodel_fixtures import CrossWorkspace

TINY_SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
"""Special tokens of the tiny tokenizer, ids 0..3 in this order."""
# fmt: off
TINY_WORDS = [
    "system", "user", "assistant", "you", "are", "a", "helpful", "model", "the", "cat", "dog", "sat", "on",
    "mat", "hello", "world", "is", "was", "it", "and", "not", "very", "good", "bad", "red", "blue", "green",
    ".", ",", "?", "!",
]
# fmt: on
"""Words of the tiny tokenizer, ids 4.. in this order; anything else maps to <unk>."""
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} {{ message['content'] }}<|im_end|> "
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant {% endif %}"
)
"""A ChatML-like template over the tiny vocabulary (spaces separate tokens, no newlines)."""
TINY_HIDDEN = 64
TINY_LAYERS = 3


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over TINY_SPECIALS + TINY_WORDS (pad 0, eos 3)."""
    vocab = {token: i for i, token in enumerate(TINY_SPECIALS + TINY_WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=TINY_CHAT_TEMPLATE,
    )


def build_tiny_model(vocab_size: int, num_layers: int = TINY_LAYERS, seed: int = 0,
                     hidden_size: int = TINY_HIDDEN) -> LlamaForCausalLM:
    """A seeded random Llama (hidden 64 unless told, 4 heads / 2 KV heads), float32, eval mode."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=hidden_size,
        intermediate_size=128,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab_size,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh tiny tokenizer (tests may change it)."""
    return build_tiny_tokenizer()


@pytest.fixture
def tiny_model(tiny_tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A fresh seeded tiny Llama with TINY_LAYERS blocks matching `tiny_tokenizer`."""
    return build_tiny_model(len(tiny_tokenizer))


@pytest.fixture
def tiny_model_dir(tmp_path: Path, tiny_model: LlamaForCausalLM, tiny_tokenizer: PreTrainedTokenizerFast) -> Path:
    """`tiny_model` and `tiny_tokenizer` saved with save_pretrained into `tmp_path/tiny-llama`."""
    folder = tmp_path / "tiny-llama"
    tiny_model.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def fac_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point FAC_HOME (the user cache) at an empty temporary folder for one test."""
    home = tmp_path / "fac-home"
    monkeypatch.setenv("FAC_HOME", str(home))
    return home


TREE_AT_START = pytest.StashKey[TreeState | None]()
"""`git status` of the checkout before the first test ran."""


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember the checkout's state before anything runs."""
    session.config.stash[TREE_AT_START] = tree_state()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The check that the suite changed nothing in the checkout runs after every other test."""
    last = [item for item in items if item.path.name == "test_tree_unchanged.py"]
    items[:] = [item for item in items if item.path.name != "test_tree_unchanged.py"] + last


@pytest.fixture(scope="session")
def cross_workspace(tmp_path_factory: pytest.TempPathFactory) -> "CrossWorkspace":
    """Two models' feature spaces with a bridge encoded in both (tests/unit/crossmodel_fixtures.py), built once per
    session: tests that write into it (maps, lists) use names of their own, or copy it."""
    from tests.unit.crossmodel_fixtures import build_cross_workspace

    return build_cross_workspace(tmp_path_factory.mktemp("cross"))
