"""The reference script's export quantisation, and fake quantisation onto the same grid for QAT.

Schemes, chosen per tensor by `scheme_for`:
  fp16  every float tensor with at most 65,536 elements, stored as float16.
  int6  attention and MLP matrices (names with .attn., .mlp. or .proj., the
        reference's classifier): per row, q in [-31, 31] in an int8 container,
        scale = row clip / 31 in fp16, at least 1/31. The row clip is one
        percentile of |row| shared by the whole matrix, the one of
        INT6_CLIP_PERCENTILES with the least whole-matrix MSE.
  int8  every other large tensor (embeddings, bigram table): per row, clip at
        the 99.99984th percentile of |row|, scale = clip / 127, at least 1/127,
        q = round(clipped row / scale) in [-127, 127] with the float32 scale,
        which is then stored in fp16 (the reference's order, bit for bit).
A tensor that is not 2-D is quantised as the rows of its (shape[0], -1) view,
one row if it is 1-D. Where QAT trained a block group for int8
(qat_*_bits == 8), its matrices export as int8 too, so the grids agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from crawler.errors import PgolfError

FP16_MAX_NUMEL = 65_536
INT6_CLIP_PERCENTILES = (0.999, 0.9995, 0.9999, 0.99999, 1.0)
INT8_CLIP_PERCENTILE = 0.9999984
QMAX = {6: 31, 8: 127}
SCHEME_BITS = {"int6": 6, "int8": 8}


class QuantError(PgolfError, ValueError):
    pass


@dataclass
class QTensor:
    scheme: str  # "int6" | "int8" | "fp16"
    shape: tuple[int, ...]
    data: Tensor  # int8 (rows, cols) for int6/int8, float16 of `shape` for fp16
    scale: Tensor | None = None  # float16 (rows,) for int6/int8


def row_count(shape: tuple[int, ...]) -> int:
    """Rows of a quantised tensor of this shape: one scale each."""
    return shape[0] if len(shape) >= 2 else 1


def _rows(t: Tensor) -> Tensor:
    return t.reshape(1, -1) if t.ndim < 2 else t.reshape(t.shape[0], -1)


def _row_quantiles(a: Tensor, qs: tuple[float, ...]) -> Tensor:
    """Linear-interpolated quantiles of each row of `a`, shape (len(qs), rows); one sort serves every q
    (torch.quantile refuses inputs above 16M elements)."""
    s = a.sort(dim=1).values
    pos = torch.tensor(qs, dtype=a.dtype, device=a.device) * (a.shape[1] - 1)  # float32 as torch.quantile
    lo = pos.long()
    hi = torch.clamp(lo + 1, max=a.shape[1] - 1)
    return torch.lerp(s[:, lo].T, s[:, hi].T, (pos - lo)[:, None])


def _grid(w: Tensor, clip: Tensor, qmax: int) -> tuple[Tensor, Tensor]:
    """Per-row grids for clips of shape (..., rows): q (..., rows, cols) and fp16 scales (..., rows)."""
    scale = (clip / qmax).clamp_min(1.0 / qmax).to(torch.float16)
    q = torch.clamp(torch.round(w / scale.float()[..., None]), -qmax, qmax)
    return q, scale


def quantize_tensor(w: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    """Per-row (q int8 (rows, cols), scale fp16 (rows,)) of `w` on the int6 or int8 export grid."""
    if bits not in QMAX:
        raise QuantError(f"unsupported bit width {bits} (6 or 8)")
    w = _rows(w.detach().float())
    a = w.abs()
    if bits == 8:
        # the reference's int8 rounds with the float32 scale and only then stores it as fp16 (int6 rounds with
        # the fp16 scale): the dequantised value is not on the grid, but it is what the reference writes
        clip = _row_quantiles(a, (INT8_CLIP_PERCENTILE,))[0][:, None]
        scale = (clip / QMAX[8]).clamp_min(1.0 / QMAX[8])
        q = torch.clamp(torch.round(torch.maximum(torch.minimum(w, clip), -clip) / scale), -QMAX[8], QMAX[8])
        return q.to(torch.int8), scale[:, 0].to(torch.float16)
    clips = torch.cat((_row_quantiles(a, INT6_CLIP_PERCENTILES[:-1]), a.amax(dim=1)[None]))
    q, scale = _grid(w, clips, QMAX[6])
    # every candidate at once and no .item(): no host sync when QAT runs this on the GPU every step
    err = (q * scale.float()[..., None] - w).square().mean(dim=(1, 2))
    best = torch.argmin(err)  # the first of equal minima: ties keep the tighter clip
    return q[best].to(torch.int8), scale[best]


def dequantize_tensor(q: Tensor, scale: Tensor, shape: tuple[int, ...]) -> Tensor:
    return (q.float() * scale.float()[:, None]).reshape(shape)


def fake_quantize(w: Tensor, bits: int) -> Tensor:
    """dequantize(quantize(w)) on the export grid, in w's dtype (CastedLinear passes the gradient straight through)."""
    q, scale = quantize_tensor(w, bits)
    return dequantize_tensor(q, scale, w.shape).to(w.dtype)


def block_matrix_bits(qat_flat_bits: int = 0, qat_crawler_bits: int = 0) -> dict[str, int]:
    """Export bits of the attention/MLP matrices by name prefix: int6, or int8 where QAT trained for int8."""
    return {"flat_blocks.": 8 if qat_flat_bits == 8 else 6, "crawler_blocks.": 8 if qat_crawler_bits == 8 else 6}


def scheme_for(name: str, t: Tensor, matrix_bits: dict[str, int] | None = None) -> str:
    if t.numel() <= FP16_MAX_NUMEL:
        return "fp16"
    if t.ndim == 2 and any(k in name for k in (".attn.", ".mlp.", ".proj.")):
        bits = next((b for prefix, b in (matrix_bits or {}).items() if name.startswith(prefix)), 6)
        return f"int{bits}"
    return "int8"


def quantize_state_dict(state_dict: dict[str, Tensor], matrix_bits: dict[str, int] | None = None) -> dict[str, QTensor]:
    out = {}
    for name, t in state_dict.items():
        t = t.detach().cpu()
        if not t.is_floating_point():
            raise QuantError(f"tensor {name} has dtype {t.dtype}; only floating-point tensors are exported")
        if not torch.isfinite(t).all():
            raise QuantError(f"tensor {name} has non-finite values")
        scheme = scheme_for(name, t, matrix_bits)
        if scheme == "fp16":
            data = t.to(torch.float16)
            if not torch.isfinite(data).all():
                raise QuantError(f"tensor {name} overflows float16")
            out[name] = QTensor("fp16", tuple(t.shape), data.contiguous())
        else:
            q, scale = quantize_tensor(t, SCHEME_BITS[scheme])
            out[name] = QTensor(scheme, tuple(t.shape), q.contiguous(), scale.contiguous())
    return out


def dequantize_state_dict(qsd: dict[str, QTensor]) -> dict[str, Tensor]:
    """float32 tensors: q * scale per row, or the fp16 values widened."""
    return {name: qt.data.float() if qt.scheme == "fp16" else dequantize_tensor(qt.data, qt.scale, qt.shape)
            for name, qt in qsd.items()}
