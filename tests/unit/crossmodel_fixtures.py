"""Two word-detector models with different tokenisers and hand-built SAEs whose correspondence is known.

Space A is tests/unit/encode_fixtures.py's model (the tiny word-level tokenizer, hidden 64) with its 8 word
detectors (feature f fires on WORDS[f] with 1 + f/2). Space B is a second model (hidden 48) whose WordPiece
tokenizer orders the words the other way round, adds tokens and splits "hello" into "hel" + "##lo"; its SAE
detects the same words under other ids:

    B feature:  0    1    2              3    4    5    6      7
    fires on:   dog  the  hello, world   cat  mat  sat  green  purple (never in the bridge)

so A's the, cat, dog, sat, mat, hello map to B 1, 3, 0, 5, 4, 2; A's world also maps to B 2 (many-to-one);
A's "on" has no counterpart; B's green and purple have none in A. Matched features fire with equal values.

The bridge corpus has 512 samples, sample k holding "is" then the words of the set bits of k: the (bit 0),
cat, dog, sat, on, mat, hello (bit 6), green (bit 7), and world when hello and (green or bit 8). The words
are pairwise independent except world, which only comes with hello: r(world, hello) = sqrt(0.6) and
r(world, green) = 1 / sqrt(15), both with 192 and 128 samples firing together.

Decoder rows: A's feature f is e_(12+f) + c_f e_0 and B's counterpart e_(its B id) + c_f e_0 with c_f = (f+1)/4,
so the paired rows have the same geometry (linear CKA 1) although the two SAEs have other widths.
"""

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from fac_engine.cli import main
from fac_engine.workspace.project import Project
from tests.conftest import TINY_CHAT_TEMPLATE, TINY_HIDDEN, TINY_SPECIALS, TINY_WORDS
from tests.unit.encode_fixtures import FIRST_ID, WORDS, activation, build_detector_sae, build_word_model

HIDDEN_B = 48
B_TOKENS = [w for w in reversed(TINY_WORDS) if w != "hello"] + ["purple", "fish", "hel", "##lo"]
"""Space B's vocabulary after the special tokens."""
B_FEATURES = [["dog"], ["the"], ["hel", "world"], ["cat"], ["mat"], ["sat"], ["green"], ["purple"]]
"""The tokens each feature of B fires on."""
B_VALUES = [activation(2), activation(0), activation(6), activation(1), activation(5), activation(3), 5.0, 5.5]
COUNTERPART = {0: 1, 1: 3, 2: 0, 3: 5, 5: 4, 6: 2, 7: 2}
"""Feature of A -> its true counterpart in B (A's 4, "on", has none)."""
BRIDGE_WORDS = ["the", "cat", "dog", "sat", "on", "mat", "hello", "green"]
"""The word of each bit 0..7 of a bridge sample's index."""
SEEDS = {"seed1": ["is the cat", "is dog"], "seed2": ["is hello world"], "seed3": ["is the cat dog sat mat on"],
         "seed4": ["is hello on green"]}
"""Datasets encoded in both spaces besides the bridge (FAC agreement)."""
ONLY_A = {"lonely": ["is the cat"]}
"""A dataset encoded in space A only."""
SCRIPT = "<script>alert(1)</script> world"
"""An explanation that must show as text."""


def bridge_texts() -> list[str]:
    """The 512 bridge samples."""
    texts = []
    for k in range(512):
        words = [w for bit, w in enumerate(BRIDGE_WORDS) if k >> bit & 1]
        if k >> 6 & 1 and (k >> 7 & 1 or k >> 8 & 1):
            words.insert(words.index("hello") + 1, "world")
        texts.append(" ".join(["is", *words]))
    return texts


def build_second_tokenizer() -> PreTrainedTokenizerFast:
    """Space B's WordPiece tokenizer (same special tokens and chat template as the tiny one)."""
    vocab = {token: i for i, token in enumerate(TINY_SPECIALS + B_TOKENS)}
    backend = Tokenizer(models.WordPiece(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                   eos_token="<|im_end|>", bos_token="<|im_start|>",
                                   additional_special_tokens=["<|im_start|>"], chat_template=TINY_CHAT_TEMPLATE)


def _decoder(d_in: int, coordinates: list[int], c: list[float]) -> torch.Tensor:
    W_dec = torch.zeros(len(coordinates), d_in)
    for f, (coordinate, weight) in enumerate(zip(coordinates, c, strict=True)):
        W_dec[f, coordinate], W_dec[f, 0] = 1.0, weight
    return W_dec


def _c(feature_a: int) -> float:
    return (feature_a + 1) / 4


def build_sae_a(folder: Path) -> Path:
    """A's word detectors (as encode_fixtures.build_word_sae) with the shared-geometry decoder."""
    ids = [FIRST_ID + f for f in range(len(WORDS))]
    return build_detector_sae(folder, TINY_HIDDEN, [[i] for i in ids], [activation(f) for f in range(len(WORDS))],
                              _decoder(TINY_HIDDEN, ids, [_c(f) for f in range(len(WORDS))]))


def build_sae_b(folder: Path) -> Path:
    """B's detectors (see the module docstring)."""
    ids = {token: i for i, token in enumerate(TINY_SPECIALS + B_TOKENS)}
    of_b = {b: a for a, b in sorted(COUNTERPART.items(), reverse=True)}  # B 2 takes hello's (A 6) geometry
    c = [_c(of_b[b]) if b in of_b else 2.25 + b / 4 for b in range(len(B_FEATURES))]
    return build_detector_sae(folder, HIDDEN_B, [[ids[t] for t in tokens] for tokens in B_FEATURES], B_VALUES,
                              _decoder(HIDDEN_B, [ids[tokens[0]] for tokens in B_FEATURES], c))


class CrossWorkspace(NamedTuple):
    """A workspace with the bridge and SEEDS encoded in both spaces (NAME in A, NAME-b in B) and ONLY_A in A."""

    ws: Path
    """The workspace folder."""
    model_a: Path
    """Space A's model folder."""
    sae_a: Path
    """Space A's SAE folder."""
    model_b: Path
    """Space B's model folder."""
    sae_b: Path
    """Space B's SAE folder."""


def build_cross_workspace(root: Path) -> CrossWorkspace:
    """Encode `bridge` and SEEDS with both models, ONLY_A with A's, into `root/ws`."""
    space = CrossWorkspace(root / "ws", build_word_model(root / "model-a"), build_sae_a(root / "sae-a"),
                           build_word_model(root / "model-b", build_second_tokenizer(), HIDDEN_B),
                           build_sae_b(root / "sae-b"))
    sides = (("", space.model_a, space.sae_a), ("-b", space.model_b, space.sae_b))
    for name, texts in {"bridge": bridge_texts(), **SEEDS, **ONLY_A}.items():
        data = root / f"{name}.jsonl"
        data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        for suffix, model, sae in sides[:1] if name in ONLY_A else sides:
            argv = ["encode", str(data), "--name", name + suffix, "--model", str(model), "--sae", str(sae),
                    "--workspace", str(space.ws), "--device", "cpu"]
            assert main(argv) == 0
    return space


def build_cross_app_workspace(cross: CrossWorkspace, root: Path, agreement: bool) -> Path:
    """A copy of the cross workspace's datasets (not the maps and projects other tests made) with the map `words`,
    projects proj-a / proj-b with explanations and a list of A's missing features (and the agreement when asked)."""
    ws = root / "ws"
    shutil.copytree(cross.ws, ws, ignore=shutil.ignore_patterns(".matches", ".projects"))
    assert main(["match", "--from", "bridge", "--to", "bridge-b", "--out", "words", "--workspace", str(ws)]) == 0
    proj_a, proj_b = Project(ws, "proj-a"), Project(ws, "proj-b")
    proj_a.update(model=str(cross.model_a), sae=str(cross.sae_a), anchor="bridge", seed="seed1")
    proj_b.update(model=str(cross.model_b), sae=str(cross.sae_b), anchor="bridge-b", seed="seed1-b")
    proj_a.set_explanations({0: "the word the", 7: SCRIPT}, "user")
    proj_b.set_explanations({1: "'the' in B", 2: "hello or world"}, "user")
    proj_a.add_to_list("missing", [3, 4, 5, 6, 7])
    if agreement:
        assert main(["match", "agreement", "--map", "words", "--seeds", "seed1,seed2,seed3,seed4", "--shuffles",
                     "20", "--workspace", str(ws)]) == 0
    return ws
