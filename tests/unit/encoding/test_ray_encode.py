"""Encoding on Ray Data: the single-process result, exactly once after a killed driver or worker.

One local Ray serves the whole session (starting one takes seconds on two cores). It declares 2
logical GPUs, so the resume test schedules its actor as on a GPU cluster while the model stays
on the CPU. The tests without the `ray_address` fixture need no Ray.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from fac_engine.cli import main
from fac_engine.data.dataset import read_dataset
from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
from fac_engine.encoding.ray_encode import (
    RayConfig,
    RayEncodeSummary,
    actor_resources,
    encode_dataset_ray,
    user_error,
)
from fac_engine.encoding.ray_stages import user_message_kept
from fac_engine.errors import FacError
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.model import DEFAULT_CHUNK_ROWS, SparseAutoencoder
from fac_engine.sae.sparse_encode import ChunkCodes
from fac_engine.workspace.datasets import (
    MANIFEST,
    POOLED,
    VOCAB,
    Manifest,
    Workspace,
    complete_shards,
    shard_path,
    write_manifest,
)
from tests.conftest import TINY_HIDDEN, TINY_WORDS, build_tiny_model, build_tiny_tokenizer

REPO = Path(__file__).resolve().parents[3]
N_SAMPLES = 23
SHARD_SAMPLES = 4
"""23 samples in 6 shards, the last one short."""
LAYER = 2


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """The address of the session's local Ray (2 CPUs, 2 logical GPUs)."""
    ray = pytest.importorskip("ray", reason="Ray Data is not installed (pip install -r requirements-ray.txt)")
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install -r requirements-ray.txt)")
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


class CrashOnceSae(SparseAutoencoder):
    """Kills the process encoding with it the first time any process does (a worker that dies mid-shard)."""

    marker = ""

    def sparse_chunks(self, x_ND: torch.Tensor, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      select_dtype: torch.dtype | None = None) -> Iterator[ChunkCodes]:
        # The encode path's entry into the SAE (sparse_batches.py).
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return super().sparse_chunks(x_ND, chunk_rows, select_dtype)
        os._exit(1)


def random_sae(cls: type[SparseAutoencoder] = SparseAutoencoder) -> SparseAutoencoder:
    """A seeded random TopK SAE (48 latents, k 6) on the tiny model's layer 2."""
    cfg = SaeConfig(d_in=TINY_HIDDEN, d_sae=48, activation="topk", k=6, hook_layer=LAYER)
    g = torch.Generator().manual_seed(7)
    tensors = {"W_enc": torch.randn(TINY_HIDDEN, 48, generator=g) / 8, "b_enc": torch.randn(48, generator=g) / 10,
               "W_dec": torch.randn(48, TINY_HIDDEN, generator=g) / 8, "b_dec": torch.zeros(TINY_HIDDEN)}
    return cls.from_tensors(cfg, tensors)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A random tiny Llama, a random SAE and two datasets of random tiny-vocabulary texts with labels."""
    root = tmp_path_factory.mktemp("ray")
    tokenizer = build_tiny_tokenizer()
    build_tiny_model(len(tokenizer)).save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    save_sae(random_sae(), root / "sae")
    rng = np.random.default_rng(3)
    paths = {"model": root / "model", "sae": root / "sae", "root": root}
    for name, n in (("anchor", N_SAMPLES), ("seed", 9)):
        lines = [json.dumps({"text": " ".join(rng.choice(TINY_WORDS[8:], size=int(rng.integers(1, 12)))),
                             "label": ["pos", "neg"][i % 2]}) for i in range(n)]
        paths[name] = root / f"{name}.jsonl"
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _encode_argv(files: dict[str, Path], name: str, workspace: Path, *extra: str) -> list[str]:
    return ["encode", str(files[name]), "--name", name, "--label-field", "label", "--shard-samples",
            str(SHARD_SAMPLES), "--model", str(files["model"]), "--sae", str(files["sae"]), "--device", "cpu",
            "--workspace", str(workspace), *extra]


def assert_same_entry(a: Path, b: Path) -> None:
    """Two workspace entries hold the same shards, pooled codes, feature tables, vocab and manifest."""
    shards = sorted(complete_shards(a))
    assert shards == sorted(complete_shards(b)) == list(range(len(shards)))
    for kind in ("tokens", "samples"):
        for shard in shards:
            assert pq.read_table(shard_path(a, kind, shard)).equals(pq.read_table(shard_path(b, kind, shard))), kind
    for name in (POOLED, VOCAB, "features/stats.parquet", "features/examples.parquet"):
        assert pq.read_table(a / name).equals(pq.read_table(b / name)), name
    manifests = [json.loads((x / MANIFEST).read_text()) for x in (a, b)]
    for m in manifests:
        m.pop("extra")  # this run's seconds and tokens
    assert manifests[0] == manifests[1]


def test_ray_cli_writes_what_the_single_process_path_writes(files: dict[str, Path], ray_address: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    single, ray_ws = files["root"] / "cli-single", files["root"] / "cli-ray"
    for ws in (single, ray_ws):
        assert main(_encode_argv(files, "seed", ws)) == 0
    assert main(_encode_argv(files, "anchor", single)) == 0
    capsys.readouterr()
    assert main(_encode_argv(files, "anchor", ray_ws, "--ray", "--ray-actors", "2")) == 0
    out = capsys.readouterr().out
    assert f"encoded {N_SAMPLES} samples" in out and "Ray actor" in out
    assert_same_entry(single / "anchor", ray_ws / "anchor")
    coverage = []
    for ws in (single, ray_ws):
        assert main(["coverage", "--anchor", "anchor", "--seed", "seed", "--json", "--workspace", str(ws)]) == 0
        coverage.append(json.loads(capsys.readouterr().out))
    assert coverage[0] == coverage[1] and 0 < coverage[0]["fac"] < 1


class _Setup:
    """The anchor dataset, the model and the engine-level encode calls of the resume tests."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.spec = ModelSpec(str(files["model"]), device="cpu", dtype="float32")
        self.lm: LoadedModel = load_model(self.spec)
        self.path = files["anchor"]
        self.dataset = read_dataset(self.path)
        self.cfg = EncodeConfig(name="anchor", shard_samples=SHARD_SAMPLES)

    def base(self, sae: SparseAutoencoder) -> Manifest:
        return new_manifest("anchor", self.lm, sae, "sae", self.path, "opts", len(self.dataset.items),
                            self.cfg, self.dataset.schema, self.dataset.label_field)

    def single(self, ws: Workspace) -> None:
        sae = random_sae()
        encode_dataset(ws, self.dataset.items, self.dataset.frame, self.lm, sae, self.cfg, base=self.base(sae))

    def ray(self, ws: Workspace, sae: SparseAutoencoder, address: str | None = None, progress: Any = None
            ) -> RayEncodeSummary:
        return encode_dataset_ray(ws, self.dataset.items, self.dataset.frame, self.lm, sae, self.cfg,
                                  base=self.base(sae), model=self.spec,
                                  ray_cfg=RayConfig(address=address, gpus_per_actor=1.0),
                                  progress=progress)


@pytest.fixture(scope="module")
def reference(files: dict[str, Path]) -> Path:
    """The anchor encoded by the single-process path."""
    ws = Workspace(files["root"] / "reference")
    _Setup(files).single(ws)
    return ws.folder("anchor")


KILL_AFTER_FIRST_SHARD = """
import os, signal, sys
from pathlib import Path
from fac_engine.workspace.datasets import Workspace
from tests.unit.encoding.test_ray_encode import _Setup, random_sae

def kill_driver(tokens, samples):
    if samples > 0:  # a shard's receipt: it is on disk
        os.kill(os.getpid(), signal.SIGKILL)

files = {"model": Path(sys.argv[1]), "anchor": Path(sys.argv[2])}
_Setup(files).ray(Workspace(Path(sys.argv[3])), random_sae(), address=sys.argv[4], progress=kill_driver)
"""


def test_killed_driver_and_dead_worker_still_write_every_sample_once(files: dict[str, Path], reference: Path,
                                                                    ray_address: str) -> None:
    ws = Workspace(files["root"] / "killed")
    argv = [sys.executable, "-c", KILL_AFTER_FIRST_SHARD, str(files["model"]), str(files["anchor"]), str(ws.root),
            ray_address]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert ws.manifest("anchor").status == "encoding"  # type: ignore[union-attr]
    assert complete_shards(ws.folder("anchor"))  # at least the shard whose receipt arrived
    # The rerun loses a worker too: the first actor to run the SAE dies in the middle of a shard.
    sae = random_sae(CrashOnceSae)
    sae.marker = str(files["root"] / "worker-crashed")
    again = _Setup(files).ray(ws, sae)
    assert Path(sae.marker).is_file()
    assert {w.gpus for w in again.workers} == {1}  # scheduled on a logical GPU
    assert again.summary.resumed_shards >= 1
    assert sum(w.shards for w in again.workers) == again.summary.manifest.n_shards - again.summary.resumed_shards
    assert_same_entry(reference, ws.folder("anchor"))


def test_rerun_with_every_shard_on_disk_only_finalises(files: dict[str, Path], reference: Path) -> None:
    pytest.importorskip("ray", reason="Ray Data is not installed (pip install -r requirements-ray.txt)")
    ws = Workspace(files["root"] / "finalise-only")
    shutil.copytree(reference, ws.folder("anchor"))
    manifest = ws.manifest("anchor")
    assert manifest is not None
    write_manifest(ws.folder("anchor"), replace(manifest, status="encoding"))  # killed inside `finalise`
    run = _Setup(files).ray(ws, random_sae(), address="ray://nowhere:1")  # never contacted: no shard to encode
    assert run.workers == [] and run.summary.tokens_encoded == 0
    assert run.summary.resumed_shards == run.summary.manifest.n_shards
    assert_same_entry(reference, ws.folder("anchor"))


REFUSING_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System messages are not supported') }}{% endif %}"
    "<|im_start|>{{ message['role'] }} {{ message['content'] }}<|im_end|> {% endfor %}"
)


def test_user_data_error_is_the_same_one_line_message(files: dict[str, Path], ray_address: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = files["root"] / "refusing"
    tokenizer = build_tiny_tokenizer()
    tokenizer.chat_template = REFUSING_TEMPLATE
    build_tiny_model(len(tokenizer)).save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    data = root / "chat.jsonl"
    rows = [[{"role": "user", "content": "hello world"}]] * 5 + [[{"role": "system", "content": "you are a model"},
                                                                  {"role": "user", "content": "the cat"}]]
    data.write_text("".join(json.dumps({"messages": m}) + "\n" for m in rows), encoding="utf-8")
    errors = []
    for extra in ([], ["--ray"]):
        capsys.readouterr()
        argv = ["encode", str(data), "--name", "chat", "--shard-samples", "2", "--model", str(root / "model"),
                "--sae", str(files["sae"]), "--device", "cpu", "--workspace", str(root / f"ws{len(extra)}"), *extra]
        assert main(argv) == 2
        errors.append(capsys.readouterr().err.strip().splitlines()[-1])
    assert errors[0] == errors[1] == ("error: The model's chat template refused this conversation: "
                                      "System messages are not supported")


def test_actor_resources_follow_the_cluster() -> None:
    assert actor_resources({"CPU": 16.0, "GPU": 4.0}, RayConfig(actors=4)) == (1.0, 1.0)
    assert actor_resources({"CPU": 16.0, "GPU": 4.0}, RayConfig(actors=4), device="cpu") == (1.0, 0.0)
    assert actor_resources({"CPU": 2.0}, RayConfig(actors=2)) == (1.0, 0.0)
    assert actor_resources({"CPU": 8.0, "GPU": 1.0}, RayConfig(actors=2, gpus_per_actor=0.5)) == (1.0, 0.5)
    with pytest.raises(FacError, match="3 Ray actors need 3 GPUs, the Ray cluster has 2"):
        actor_resources({"CPU": 16.0, "GPU": 2.0}, RayConfig(actors=3))
    with pytest.raises(FacError, match="need 4 CPUs, the Ray cluster has 2"):
        actor_resources({"CPU": 2.0}, RayConfig(actors=2, cpus_per_actor=2))
    with pytest.raises(ValueError, match="at least 1"):
        RayConfig(actors=0)


def test_user_error_is_found_inside_ray_wrappers() -> None:
    class TaskError(Exception):  # what Ray raises on the driver: the worker's exception as `cause`
        def __init__(self, cause: BaseException) -> None:
            super().__init__("ray::MapWorker traceback ...")
            self.cause = cause

    worker_error = FacError("column 'text': not a string")
    with pytest.raises(FacError), user_message_kept():
        raise worker_error
    worker_error.args = (f"{worker_error}\nFailed to apply UDF transform after 1/1 attempts.",)  # what Ray Data does
    try:
        raise RuntimeError("stream ended") from TaskError(worker_error)
    except RuntimeError as exc:
        found = user_error(exc)
    assert isinstance(found, FacError) and str(found) == "column 'text': not a string"
    assert user_error(TaskError(ValueError("a bug"))) is None
