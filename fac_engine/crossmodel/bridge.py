"""The bridge corpus: the same samples encoded in two feature spaces, the only thing two SAEs on models with
different tokenisers share (docs/METHOD.md section 6).

A feature space is a (model, SAE, layer) triple, named by any dataset encoded in it. A bridge pair is one
dataset encoded in both spaces: the same file read the same way (equal `dataset_hash` and sample count), so
sample k is the same text on both sides. The pairs are stacked into one sample axis.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import sparse

from fac_engine.errors import FacError
from fac_engine.workspace.datasets import Manifest, PooledArrays, Workspace, check_comparable


@dataclass(frozen=True)
class FeatureSpace:
    """One SAE feature space: what an encoded dataset's g_i(x) means."""

    model: str
    """Model identity (`name@hash`)."""
    sae: str
    """SAE identity (hash of its weights and encoding settings)."""
    sae_path: str
    """Where the SAE was loaded from when the datasets were encoded (for its decoder rows)."""
    layer: int
    """hidden_states index the SAE reads."""
    d_sae: int
    """Number of SAE features."""

    @classmethod
    def of(cls, manifest: Manifest) -> "FeatureSpace":
        """The space an encoded dataset lives in."""
        return cls(manifest.model, manifest.sae, manifest.sae_path, manifest.layer, manifest.d_sae)

    def holds(self, manifest: Manifest) -> bool:
        """Whether a dataset was encoded in this space (same model, SAE and layer)."""
        return (manifest.model, manifest.sae, manifest.layer) == (self.model, self.sae, self.layer)

    def label(self) -> str:
        """A short human name: model, layer and SAE id."""
        return f"{self.model} layer {self.layer} (SAE {self.sae}, {self.d_sae:,} features)"


class BridgePair(NamedTuple):
    """One dataset encoded in both spaces."""

    a: str
    """Its name in space A."""
    b: str
    """Its name in space B."""


@dataclass(frozen=True)
class Bridge:
    """Checked bridge pairs and the two spaces they connect."""

    pairs: tuple[BridgePair, ...]
    """The datasets, in the order their samples are stacked."""
    space_a: FeatureSpace
    """The space features are matched from."""
    space_b: FeatureSpace
    """The space candidates are drawn from."""
    n_samples: int
    """Samples of all pairs together."""
    hash: str
    """sha256 over the pairs' dataset hashes and sizes, in order: the same corpus gives the same hash."""


class BridgeCodes(NamedTuple):
    """The bridge's pooled codes in both spaces, one row per bridge sample."""

    a: sparse.csr_matrix
    """[N, d_sae A] g_i(x) in space A (float64, only g > 0 stored)."""
    b: sparse.csr_matrix
    """[N, d_sae B] g_j(x) in space B."""


def parse_pairs(text: str) -> list[tuple[str, str | None]]:
    """'x=y, z' -> [("x", "y"), ("z", None)]: a name alone asks for its counterpart to be found."""
    out: list[tuple[str, str | None]] = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        left, sep, right = item.partition("=")
        if not left.strip() or (sep and not right.strip()):
            raise FacError(f"{item!r} is not a dataset name or a pair like NAME_A=NAME_B.")
        out.append((left.strip(), right.strip() if sep else None))
    return out


def resolve_pair(workspace: Workspace, a: str, b: str | None, space_a: FeatureSpace, space_b: FeatureSpace,
                 ref_a: Manifest | None = None, ref_b: Manifest | None = None) -> BridgePair:
    """Check that `a` (space A) and `b` (space B) hold the same samples; find `b` when it is None.

    `ref_a` / `ref_b` are datasets of each space whose encoding settings (pooling, template, length) the pair
    must share, when given.
    """
    ma = _manifest_in(workspace, a, space_a, "A", ref_a)
    if b is None:
        b = _counterpart(workspace, ma, space_b)
    mb = _manifest_in(workspace, b, space_b, "B", ref_b)
    if (ma.dataset_hash, ma.n_samples) != (mb.dataset_hash, mb.n_samples):
        raise FacError(f"{a!r} and {b!r} do not hold the same samples (dataset hash {ma.dataset_hash[:12]} with "
                       f"{ma.n_samples:,} samples vs {mb.dataset_hash[:12]} with {mb.n_samples:,}): encode the same "
                       "file with the same reading options in both spaces, so sample k is the same text on both sides.")
    return BridgePair(a, b)


def _manifest_in(workspace: Workspace, name: str, space: FeatureSpace, which: str, ref: Manifest | None) -> Manifest:
    """The manifest of dataset `name`, checked to be encoded in `space` (A or B: `which`) and, with `ref`, with
    the same encoding settings."""
    m = workspace.open(name).manifest
    if not space.holds(m):
        raise FacError(f"{name!r} is not encoded in space {which} ({space.label()}); it was encoded with {m.model}, "
                       f"SAE {m.sae}, layer {m.layer}.")
    if ref is not None:
        check_comparable(ref, m)
    return m


def _counterpart(workspace: Workspace, ma: Manifest, space_b: FeatureSpace) -> str:
    """The one dataset of space B that holds the same samples as `ma`."""
    found = []
    for name in workspace.names():
        m = workspace.manifest(name)
        if m is not None and space_b.holds(m) and (m.dataset_hash, m.n_samples) == (ma.dataset_hash, ma.n_samples):
            found.append(name)
    if not found:
        raise FacError(f"No dataset encoded in space B ({space_b.label()}) holds the samples of {ma.name!r}: encode "
                       f"{ma.dataset_path} with B's model and SAE, then give the pair as {ma.name}=NAME.")
    if len(found) > 1:
        raise FacError(f"Several datasets of space B hold the samples of {ma.name!r} ({', '.join(found)}); "
                       f"name one as {ma.name}=NAME.")
    return found[0]


def resolve_bridge(workspace: Workspace, from_name: str, to_name: str,
                   entries: list[tuple[str, str | None]] | None = None) -> Bridge:
    """The bridge from space A (that of dataset `from_name`) to space B (that of `to_name`).

    Without entries the bridge is the pair (from_name, to_name) itself. FacError when a pair does not hold the
    same samples on both sides, a dataset is in the wrong space, or a dataset appears twice.
    """
    ref_a, ref_b = workspace.open(from_name).manifest, workspace.open(to_name).manifest
    space_a, space_b = FeatureSpace.of(ref_a), FeatureSpace.of(ref_b)
    pairs = [resolve_pair(workspace, a, b, space_a, space_b, ref_a, ref_b)
             for a, b in (entries or [(from_name, to_name)])]
    for side in (0, 1):
        names = [p[side] for p in pairs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FacError(f"Bridge dataset(s) {', '.join(twice)} appear more than once; give each pair once.")
    manifests = [workspace.open(p.a).manifest for p in pairs]
    digest = hashlib.sha256(json.dumps([[m.dataset_hash, m.n_samples] for m in manifests]).encode())
    return Bridge(tuple(pairs), space_a, space_b, sum(m.n_samples for m in manifests), digest.hexdigest())


def stack_codes(parts: list[PooledArrays], d_sae: int) -> sparse.csr_matrix:
    """[N, d_sae] matrix of g over the parts' samples, one after the other."""
    rows, cols, vals, offset = [], [], [], 0
    for p in parts:
        if p.sample is None:
            raise ValueError("The bridge needs pooled codes with sample ids (pooled_arrays(with_samples=True)).")
        rows.append(np.asarray(p.sample, np.int64) + offset)
        cols.append(np.asarray(p.feature, np.int64))
        vals.append(np.asarray(p.value, np.float64))
        offset += p.n_samples
    data = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))) if parts else \
        (np.zeros(0), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
    return sparse.csr_matrix(data, shape=(offset, d_sae))


def bridge_codes(workspace: Workspace, bridge: Bridge) -> BridgeCodes:
    """Read the bridge's pooled codes in both spaces."""
    side_a = [workspace.open(p.a).pooled_arrays(with_samples=True) for p in bridge.pairs]
    side_b = [workspace.open(p.b).pooled_arrays(with_samples=True) for p in bridge.pairs]
    return BridgeCodes(stack_codes(side_a, bridge.space_a.d_sae), stack_codes(side_b, bridge.space_b.d_sae))
