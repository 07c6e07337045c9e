"""The stages of the Ray Data encode: input rows (one per shard), tokenising tasks, model + SAE actors.

Rows are the fixed input shards of the single-process path. Ray Data's batch sizes count rows,
and a shard's codes depend only on its own samples (token-budget batches inside the shard), so
with one row per shard every worker writes exactly the bytes the single-process path writes. A
shard's samples travel inside its row as Arrow IPC (text and messages for the tokenizer, the
samples-table columns for the writer); nothing is pickled into the workspace.
"""

import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple, cast

import pyarrow as pa
import torch
from transformers import PreTrainedTokenizerBase

from fac_engine.data.schemas import DatasetItem, Message
from fac_engine.encoding.budget import encode_budget
from fac_engine.encoding.encode import EncodeConfig, Item, encode_sample
from fac_engine.encoding.shards import encode_shard
from fac_engine.errors import FacError
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.models.template import EncodedText
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.workspace.datasets import MANIFEST

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
"""Arrow type of one sample's chat messages."""


def to_ipc(table: pa.Table) -> bytes:
    """A table as Arrow IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return cast(bytes, sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    """The table of `to_ipc` bytes."""
    return pa.ipc.open_stream(data).read_all()


def input_row(shard: int, first: int, items: Sequence[Item], meta: pa.Table) -> pa.Table:
    """The one-row table of a shard: its samples' inputs and samples-table columns as IPC."""
    messages = [None if item.messages is None else [m._asdict() for m in cast(Sequence[Message], item.messages)]
                for item in items]
    inputs = pa.table({"text": pa.array([item.text for item in items], pa.string()),
                       "messages": pa.array(messages, MESSAGES)})
    return pa.table({"shard": pa.array([shard], pa.int64()), "first": pa.array([first], pa.int64()),
                     "inputs": pa.array([to_ipc(inputs)], pa.large_binary()),
                     "meta": pa.array([to_ipc(meta)], pa.large_binary())})


def _items(inputs: pa.Table) -> list[DatasetItem]:
    texts, messages = inputs.column("text").to_pylist(), inputs.column("messages").to_pylist()
    return [DatasetItem(text=t, messages=None if ms is None else tuple(Message(**m) for m in ms))
            for t, ms in zip(texts, messages, strict=True)]


USER_MESSAGE = "fac_user_message"
"""Attribute of a FacError raised in a stage that keeps its message: Ray Data appends retry advice to the args."""


@contextmanager
def user_message_kept() -> Iterator[None]:
    """Mark FacErrors leaving a stage with their own message (see USER_MESSAGE)."""
    try:
        yield
    except FacError as exc:
        setattr(exc, USER_MESSAGE, str(exc))
        raise


def tokenize_shards(batch: pa.Table, tokenizer: PreTrainedTokenizerBase, cfg: EncodeConfig) -> pa.Table:
    """CPU stage: token ids, t0 and truncation of every sample of each shard row (`encode_sample`)."""
    out = []
    for inputs in batch.column("inputs").to_pylist():
        with user_message_kept():
            encoded = [encode_sample(tokenizer, item, cfg) for item in _items(from_ipc(inputs))]
        out.append(to_ipc(pa.table({
            "ids": pa.array([e.ids for e in encoded], pa.list_(pa.int32())),
            "content_start": pa.array([e.content_start for e in encoded], pa.int32()),
            "truncated": pa.array([e.truncated for e in encoded], pa.bool_()),
            "content_mask": pa.array([list(e.content()) for e in encoded], pa.list_(pa.bool_())),
        })))
    return batch.drop_columns(["inputs"]).append_column("tokens", pa.array(out, pa.large_binary()))


class ShardReceipt(NamedTuple):
    """What a model actor reports for one shard it wrote."""

    shard: int
    samples: int
    tokens: int
    seconds: float
    """Forward pass, SAE and writing of this shard."""
    worker: str
    """host:pid of the actor."""
    gpus: int
    """GPUs Ray assigned to the actor."""


RECEIPT_SCHEMA = pa.schema([("shard", pa.int64()), ("samples", pa.int64()), ("tokens", pa.int64()),
                            ("seconds", pa.float64()), ("worker", pa.string()), ("gpus", pa.int64())])


def actor_device(device: str, gpus: float) -> str:
    """The device name an actor loads its model on.

    Ray makes an actor's own GPU the only visible one, so `cuda:N` would name a GPU the actor
    does not have (or another actor's): with a GPU, any CUDA request means the visible one.
    """
    return "cuda" if gpus > 0 and device.startswith("cuda") else device


class ShardEncoder:
    """Actor stage: one model + SAE per actor, whole shards encoded and written to the shared workspace."""

    def __init__(self, spec: ModelSpec, sae: SparseAutoencoder, folder: str, model_identity: str,
                 token_budget: int | None, num_cpus: float, num_gpus: float) -> None:
        # A model actor uses the cores it reserved, not every core of the node it shares with others.
        torch.set_num_threads(max(1, int(num_cpus)))
        self.folder = Path(folder)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.error: FacError | None = None
        try:
            self.lm, self.sae, self.gpus = self._load(spec, sae, model_identity, num_gpus)
            self.budget = encode_budget(self.lm, self.sae, token_budget=token_budget)
        except FacError as exc:
            # Ray keeps only the text of an exception raised while an actor starts; raised from the
            # first batch instead, it reaches the driver as the FacError it is.
            self.error = exc

    def _load(self, spec: ModelSpec, sae: SparseAutoencoder, model_identity: str, num_gpus: float
              ) -> tuple[LoadedModel, SparseAutoencoder, int]:
        host = socket.gethostname()
        if not (self.folder / MANIFEST).is_file():
            raise FacError(f"The workspace folder {self.folder} is not visible on {host}; put the workspace on "
                           "storage every node of the Ray cluster reaches (--workspace).")
        lm = load_model(replace(spec, device=actor_device(spec.device, num_gpus)))
        if lm.identity != model_identity:
            raise FacError(f"The model on {host} is {lm.identity}, the driver's is {model_identity}; install the "
                           "same model files on every node.")
        ray = sys.modules.get("ray")  # always loaded in a Ray worker; the stage also runs in-process (tests)
        return lm, sae.to(lm.device), len(ray.get_gpu_ids()) if ray is not None and ray.is_initialized() else 0

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Encode and write each shard of the batch; one receipt row per shard."""
        if self.error is not None:
            with user_message_kept():
                raise self.error
        receipts = []
        columns = (batch.column(c).to_pylist() for c in ("shard", "first", "meta", "tokens"))
        for shard, first, meta, tokens in zip(*columns, strict=True):
            started = time.perf_counter()
            table = from_ipc(tokens)
            encoded = [EncodedText(ids, start, truncated, tuple(mask)) for ids, start, truncated, mask in
                       zip(*(table.column(c).to_pylist() for c in ("ids", "content_start", "truncated",
                                                                    "content_mask")), strict=True)]
            with user_message_kept():
                n_tokens = encode_shard(self.lm, self.sae, self.folder, shard, first, encoded, from_ipc(meta),
                                        self.budget)
            receipts.append(ShardReceipt(shard, len(encoded), n_tokens, time.perf_counter() - started, self.worker,
                                         self.gpus))
        return pa.Table.from_pylist([r._asdict() for r in receipts], schema=RECEIPT_SCHEMA)
