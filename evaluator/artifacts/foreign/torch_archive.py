"""A foreign artifact's container undone and its torch.save archive read, both as untrusted input: decompression is
capped, the archive must be a torch zip whose entries are all stored (no nested compression) with good CRCs, and
it is read with torch.load(weights_only=True) only. Then the checks both foreign formats make of what it held."""
from __future__ import annotations

import io
import zipfile
import zlib

import torch
from torch import Tensor

from crawler.errors import first_line
from crawler.ptz import ArtifactError, zstd_decompress_capped
from evaluator.artifacts.container import TORCH_ZIP_MAGIC, ZLIB, ZSTD, detect_container


def decompress(blob: bytes, cap: int, where: str) -> bytes:
    container = detect_container(blob[:4])
    if container == ZSTD:
        return zstd_decompress_capped(blob, cap, where)
    if container == ZLIB:
        d = zlib.decompressobj()
        try:
            raw = d.decompress(blob, cap + 1)
        except zlib.error as e:
            raise ArtifactError(f"{where}: corrupt zlib data ({first_line(e)})") from None
        if len(raw) > cap:
            raise ArtifactError(f"{where}: decompresses to more than {cap:,} bytes (refused)")
        if not d.eof:
            raise ArtifactError(f"{where}: truncated (zlib stream ends early)")
        if d.unused_data:
            raise ArtifactError(f"{where}: unexpected bytes after the zlib stream")
        return raw
    raise ArtifactError(f"{where}: unknown artifact format (first bytes {blob[:4].hex() or 'none'}: "
                        "not ours, zstd or zlib)")


def torch_load(raw: bytes, where: str):
    if not raw.startswith(TORCH_ZIP_MAGIC):
        raise ArtifactError(f"{where}: decompressed data is not a torch.save zip archive")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            # stored entries only: a deflated one could hide a second bomb behind the cap
            stored = all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
            bad = z.testzip() if stored else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, ValueError) as e:
        raise ArtifactError(f"{where}: corrupt torch archive ({first_line(e, 100)})") from None
    if not stored:
        raise ArtifactError(f"{where}: torch archive has compressed entries (torch.save never writes them)")
    if bad is not None:
        raise ArtifactError(f"{where}: corrupt torch archive (CRC mismatch in {bad[:60]})")
    try:
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler raises many kinds on hostile input; all mean "refused"
        lines = str(e).splitlines()
        why = next((ln.strip()[:120] for ln in lines if "GLOBAL" in ln or "nsupported" in ln), first_line(e))
        raise ArtifactError(f"{where}: refused by torch.load(weights_only=True) ({type(e).__name__}: {why})") from None


def tensor_dict(d, what: str, where: str) -> dict[str, Tensor]:
    if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in d.items()):
        raise ArtifactError(f"{where}: {what} is not a dict of named tensors")
    return d


def scaled(q: Tensor, s: Tensor, name: str, where: str) -> Tensor:
    if q.dtype != torch.int8 or not s.is_floating_point():
        raise ArtifactError(f"{where}: {name} has q {q.dtype} and scale {s.dtype}, expected int8 and float")
    if s.ndim == 0:
        return q.float() * s.float()
    if s.ndim != 1 or q.ndim == 0 or s.numel() != q.shape[0]:
        raise ArtifactError(f"{where}: {name} has scale shape {tuple(s.shape)} for q shape {tuple(q.shape)}")
    return q.float() * s.float().view(-1, *([1] * (q.ndim - 1)))


def finite(sd: dict[str, Tensor], where: str) -> dict[str, Tensor]:
    for name, t in sd.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ArtifactError(f"{where}: {name} has non-finite values")
    return sd
