"""Harvested activations kept on disk (safetensors), reused while what produced them is unchanged.

Two forms: one file for a tensor made in one go (`cached_activations`), and a folder of shards
that a long harvest fills over several sittings (`ShardedActivations`).
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError
from fac_engine.log import get_logger

log = get_logger(__name__)

TENSOR_NAME = "activations"
"""Name of the single [N, D] tensor in a cache file."""


def read_cached(path: Path, key: Mapping[str, str]) -> torch.Tensor | None:
    """The cached tensor when `path` holds one made under exactly `key`; None otherwise (absent, stale, corrupt)."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            if dict(f.metadata() or {}) != dict(key):
                log.info("%s was made from other inputs; harvesting again", path)
                return None
            tensor: torch.Tensor = f.get_tensor(TENSOR_NAME)
            return tensor
    except (SafetensorError, OSError, KeyError) as exc:
        log.warning("ignoring unreadable activation cache %s: %s", path, exc)
        return None


def cached_activations(path: Path, key: Mapping[str, str], make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Load `path` if it was made under `key`, else call `make()` and store its result there atomically.

    `key` describes everything the activations depend on (model identity, layer, data file,
    token count...); any difference means the cache is stale and is rebuilt.
    """
    cached = read_cached(path, key)
    if cached is not None:
        log.info("reusing %d cached activations from %s", cached.shape[0], path)
        return cached
    tensor = make()
    with atomic_file(path) as tmp:
        save_file({TENSOR_NAME: tensor.contiguous()}, str(tmp), metadata=dict(key))
    return tensor


MANIFEST = "manifest.json"
"""The sharded store's index: its key, and the shards that are complete, in order."""
MANIFEST_FORMAT = "fac-activation-shards"


@dataclass(frozen=True)
class Shard:
    """One complete shard: a safetensors file of `rows` activations of texts up to `texts_end`."""

    file: str
    rows: int
    texts_end: int
    """Texts read once this shard was written (the harvest resumes from here)."""


class ShardedActivations:
    """Harvested activations in numbered bf16 safetensors shards, indexed by `manifest.json`.

    A shard counts only once the manifest lists it, and the manifest is rewritten atomically
    after the shard file is in place: a harvest killed mid-shard leaves at most a stray file
    that the next run overwrites. The store is bound to a key (what the activations depend on);
    opening it under another key is refused rather than mixing activations of other inputs.
    """

    def __init__(self, folder: Path, key: Mapping[str, str]) -> None:
        self.folder, self.key = Path(folder), dict(key)
        self.shards: list[Shard] = []
        self.complete = False
        self.target: int | None = None
        """Rows the harvest was asked for (None: not recorded); a complete store with fewer ran out of texts."""
        self.cut = False
        """The store is read as a shorter harvest (`fit_to`): the folder holds more than these shards say."""
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            self._read(manifest)

    def _read(self, manifest: Path) -> None:
        try:
            raw = json.loads(manifest.read_text(encoding="utf-8"))
            if raw.get("format") != MANIFEST_FORMAT:
                raise ValueError("not an activation-shard manifest")
            found = {str(k): str(v) for k, v in raw["key"].items()}
            shards = [Shard(str(s["file"]), int(s["rows"]), int(s["texts_end"])) for s in raw["shards"]]
            complete = bool(raw["complete"])
            target = raw.get("target")
            if "tokens" in found and "tokens" not in self.key:  # stores of fac 0.6 kept the target in the key
                target = found.pop("tokens")
            self.target = None if target is None else int(target)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FacError(f"{manifest} is unreadable ({exc}); delete {self.folder} to harvest again") from exc
        if found != self.key:
            changed = sorted(k for k in {*found, *self.key} if found.get(k) != self.key.get(k))
            raise FacError(f"{self.folder} holds activations of other inputs (different {', '.join(changed)}); "
                           "delete it or choose another cache folder")
        self.shards, self.complete = shards, complete

    @property
    def rows(self) -> int:
        """Activations over all complete shards."""
        return sum(s.rows for s in self.shards)

    @property
    def texts_done(self) -> int:
        """Texts whose activations are all in complete shards."""
        return self.shards[-1].texts_end if self.shards else 0

    @property
    def shard_rows(self) -> list[int]:
        """Rows per shard, in order."""
        return [s.rows for s in self.shards]

    def load(self, index: int) -> torch.Tensor:
        """The [rows, d] bf16 tensor of shard `index`; FacError if its file is missing or damaged."""
        path = self.folder / self.shards[index].file
        try:
            with safe_open(str(path), framework="pt") as f:
                tensor: torch.Tensor = f.get_tensor(TENSOR_NAME)
        except (SafetensorError, OSError, KeyError) as exc:
            raise FacError(f"activation shard {path} is unreadable ({exc}); delete {self.folder} to harvest again"
                           ) from exc
        rows = self.shards[index].rows
        if self.cut and index == len(self.shards) - 1 and tensor.shape[0] > rows:
            return tensor[:rows]  # the shard where the shorter harvest ends
        if tensor.shape[0] != rows:
            raise FacError(f"activation shard {path} has {tensor.shape[0]} rows, the manifest says "
                           f"{self.shards[index].rows}; delete {self.folder} to harvest again")
        return tensor

    def load_all(self) -> torch.Tensor:
        """Every shard concatenated (for small stores, e.g. the held-out activations)."""
        return torch.cat([self.load(i) for i in range(len(self.shards))])

    def fit_to(self, target: int) -> None:
        """Read the store as the harvest of `target` rows from scratch would have made it.

        More rows than `target`: the shards up to the one holding row `target`, that one cut there, all of it
        complete; the folder keeps everything (a later run with the larger target finds it again). Fewer: a
        harvest stopped early continues; one that ended at a smaller target drops its last shard (cut mid-chunk
        there) so that the harvest continues from a chunk boundary, exactly as an uninterrupted run. A store that
        ran out of texts stays complete.
        """
        if target == self.target or not self.shards:
            self.target = target
            return
        if self.rows >= target:
            kept, total = [], 0
            for shard in self.shards:
                kept.append(replace(shard, rows=min(shard.rows, target - total)))
                total += kept[-1].rows
                if total >= target:
                    break
            self.shards, self.complete, self.cut = kept, True, True
        elif self.complete and self.target is not None and self.rows >= self.target:
            self.shards, self.complete = self.shards[:-1], False
        self.target = target

    def append(self, acts_ND: torch.Tensor, texts_end: int) -> None:
        """Write one more shard (bf16), then list it in the manifest."""
        name = f"shard-{len(self.shards):05d}.safetensors"
        with atomic_file(self.folder / name) as tmp:
            save_file({TENSOR_NAME: acts_ND.to(torch.bfloat16).contiguous()}, str(tmp))
        self.shards.append(Shard(name, int(acts_ND.shape[0]), texts_end))
        self._write()

    def finish(self) -> None:
        """Mark the harvest complete: no more shards will come."""
        self.complete = True
        self._write()

    def _write(self) -> None:
        if self.cut:
            raise RuntimeError("a store read as a shorter harvest is never written")
        manifest = {"format": MANIFEST_FORMAT, "key": self.key, "complete": self.complete, "target": self.target,
                    "shards": [asdict(s) for s in self.shards]}
        with atomic_file(self.folder / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
