"""The SAE module: the internal form every loader produces and every consumer encodes with."""

from collections.abc import Iterator
from dataclasses import replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from fac_engine.errors import FacError
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.sparse_encode import ChunkCodes, SelectWeights, bf16_chunk, exact_chunk, select_weights

DEFAULT_CHUNK_ROWS = 4096
"""Rows encoded at once: the dense [rows, d_sae] pre-activation is only ever this tall."""

LAYER_NORM_EPS = 1e-5


class SparseCodes(NamedTuple):
    """Per-token sparse codes; inactive slots hold value 0."""

    values: torch.Tensor
    """[N, W] activations, sorted descending per row; W is the widest row's count of active features
    (k for topk, at most `cfg.max_active` when that is set)."""
    indices: torch.Tensor
    """[N, W] feature ids (int64) matching `values`."""
    dropped: torch.Tensor | None = None
    """[N] int64: active features each row lost to `cfg.max_active` (None where not counted)."""


class SparseAutoencoder(nn.Module):
    """W_enc[d_in, d_sae], b_enc[d_sae], W_dec[d_sae, d_in], b_dec[d_in], threshold[d_sae].

    Encode (docs/SAE_FORMATS.md): x' = normalize(x) - (b_dec if apply_b_dec_to_input);
    pre = x' @ W_enc + b_enc; then relu, topk (k largest, relu'd) or jumprelu.
    Decode: f @ W_dec + b_dec, in the normalised space.
    """

    def __init__(self, cfg: SaeConfig, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.cfg = cfg
        self.W_enc = nn.Parameter(torch.zeros(cfg.d_in, cfg.d_sae, dtype=dtype))
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dtype))
        self.W_dec = nn.Parameter(torch.zeros(cfg.d_sae, cfg.d_in, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in, dtype=dtype))
        self.threshold = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dtype), requires_grad=False)

    @classmethod
    def from_tensors(cls, cfg: SaeConfig, tensors: dict[str, torch.Tensor]) -> "SparseAutoencoder":
        """Build from named tensors in the internal layout, checking every shape.

        Required: W_enc, b_enc, W_dec, b_dec; `threshold` for jumprelu. A 0-d threshold is
        broadcast to every latent. Raises FacError naming the tensor and both shapes.
        """
        expected = {
            "W_enc": (cfg.d_in, cfg.d_sae),
            "b_enc": (cfg.d_sae,),
            "W_dec": (cfg.d_sae, cfg.d_in),
            "b_dec": (cfg.d_in,),
        }
        if cfg.activation == "jumprelu":
            expected["threshold"] = (cfg.d_sae,)
        sae = cls(cfg)
        for name, shape in expected.items():
            if name not in tensors:
                raise FacError(f"SAE weights lack the tensor {name!r} (expected shape {list(shape)}).")
            tensor = tensors[name].detach().to(torch.float32)
            if name == "threshold" and tensor.dim() == 0:
                tensor = tensor.expand(cfg.d_sae)
            if tuple(tensor.shape) != shape:
                raise FacError(
                    f"SAE tensor {name!r} has shape {list(tensor.shape)}, expected {list(shape)} "
                    f"for d_in={cfg.d_in}, d_sae={cfg.d_sae}."
                )
            getattr(sae, name).data.copy_(tensor)
        return sae

    def tensors(self) -> dict[str, torch.Tensor]:
        """The weights by internal name (threshold only for jumprelu), detached, contiguous."""
        names = ["W_enc", "b_enc", "W_dec", "b_dec"]
        if self.cfg.activation == "jumprelu":
            names.append("threshold")
        return {name: getattr(self, name).detach().contiguous() for name in names}

    def with_config(self, **changes: object) -> "SparseAutoencoder":
        """A copy sharing these weights under a config with `changes` applied (e.g. metrics)."""
        other = SparseAutoencoder(replace(self.cfg, **changes), dtype=self.W_enc.dtype)  # type: ignore[arg-type]
        other.load_state_dict(self.state_dict())
        return other.to(self.W_enc.device)

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_enc.dtype

    def normalize(self, x_ND: torch.Tensor) -> torch.Tensor:
        """Apply the configured input normalisation (no b_dec subtraction)."""
        norm = self.cfg.normalization
        if norm == "scale":
            return x_ND * self.cfg.input_scale
        if norm == "constant_norm_rescale":
            scale = (self.cfg.d_in**0.5) / x_ND.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return x_ND * scale
        if norm == "layer_norm":
            centred = x_ND - x_ND.mean(dim=-1, keepdim=True)
            return centred / (centred.std(dim=-1, keepdim=True) + LAYER_NORM_EPS)
        return x_ND

    def pre_acts(self, x_ND: torch.Tensor) -> torch.Tensor:
        """Dense pre-activations [N, d_sae] (normalisation and b_dec applied)."""
        x = self.normalize(x_ND.to(self.dtype))
        if self.cfg.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def activate(self, pre_NF: torch.Tensor) -> torch.Tensor:
        """Dense codes [N, d_sae] from pre-activations."""
        act = self.cfg.activation
        if act == "relu":
            return torch.relu(pre_NF)
        if act == "jumprelu":
            return torch.relu(pre_NF) * (pre_NF > self.threshold)
        assert self.cfg.k is not None
        top = pre_NF.topk(self.cfg.k, dim=-1)
        return torch.zeros_like(pre_NF).scatter_(-1, top.indices, torch.relu(top.values))

    def encode(self, x_ND: torch.Tensor) -> torch.Tensor:
        """Dense codes [N, d_sae]; use only on small inputs (tests, training micro-batches)."""
        return self.activate(self.pre_acts(x_ND))

    @torch.no_grad()
    def sparse_chunks(self, x_ND: torch.Tensor, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      select_dtype: torch.dtype | None = None) -> Iterator[ChunkCodes]:
        """Sparse codes of `chunk_rows` rows at a time (sae/sparse_encode.py); `select_dtype=torch.bfloat16`
        chooses latents with a bf16 matmul and keeps fp32 values (the CUDA path)."""
        if x_ND.dim() != 2 or x_ND.shape[-1] != self.cfg.d_in:
            raise FacError(f"SAE input must be [tokens, {self.cfg.d_in}], got {list(x_ND.shape)}.")
        if select_dtype not in (None, torch.bfloat16):
            raise ValueError(f"select_dtype must be None or torch.bfloat16, got {select_dtype}.")
        weights = self._select_weights() if select_dtype is not None else None
        for i in range(0, x_ND.shape[0], chunk_rows):
            x = x_ND[i : i + chunk_rows]
            yield exact_chunk(self, x) if weights is None else bf16_chunk(self, x, weights)

    def _select_weights(self) -> SelectWeights:
        """The bf16 / transposed encoder copies, made once per device and weight version."""
        key = (self.W_enc.device, self.W_enc._version, self.b_enc._version, self.W_enc.data_ptr())
        cached = self.__dict__.get("_select_cache")
        if cached is None or cached[0] != key:
            cached = (key, select_weights(self))
            self.__dict__["_select_cache"] = cached
        return cached[1]

    @torch.no_grad()
    def encode_sparse(self, x_ND: torch.Tensor, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      select_dtype: torch.dtype | None = None) -> SparseCodes:
        """Sparse codes of every row: every active feature (k for topk, at most `cfg.max_active` when set),
        sorted by value, rows padded with zeros to the widest one.

        The dense code is materialised for at most `chunk_rows` rows at a time.
        """
        parts = list(self.sparse_chunks(x_ND, chunk_rows, select_dtype))
        width = max((p.values.shape[1] for p in parts), default=self.cfg.sparse_width or 0)
        values = [F.pad(p.values, (0, width - p.values.shape[1])) for p in parts]
        indices = [F.pad(p.indices, (0, width - p.indices.shape[1])) for p in parts]
        if not parts:
            empty = torch.zeros(0, width, dtype=torch.float32, device=x_ND.device)
            return SparseCodes(empty, empty.to(torch.int64), torch.zeros(0, dtype=torch.int64, device=x_ND.device))
        return SparseCodes(torch.cat(values), torch.cat(indices), torch.cat([p.dropped for p in parts]))

    def decode(self, f_NF: torch.Tensor) -> torch.Tensor:
        """Reconstruction [N, d_in] of normalised inputs from dense codes."""
        return f_NF @ self.W_dec + self.b_dec

    def decode_sparse(self, codes: SparseCodes) -> torch.Tensor:
        """Reconstruction [N, d_in] from sparse codes without building the dense code."""
        rows_NWD = self.W_dec[codes.indices]
        return (codes.values.unsqueeze(-1).to(self.dtype) * rows_NWD).sum(dim=1) + self.b_dec
