"""The byte audit: the LUT's byte count (what BPB divides by) against the UTF-8 length of the same targets
decoded, which must agree for a BPB to be one."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sentencepiece as spm

from crawler.bpb import SPACE, ByteLUT


def count_bytes(lut: ByteLUT, prev_ids: np.ndarray, tgt_ids: np.ndarray) -> int:
    """The LUT's bytes for targets tgt_ids after prev_ids, on the CPU: what the scorer's per-token sums add to."""
    prev_ids, tgt_ids = np.asarray(prev_ids, dtype=np.int64), np.asarray(tgt_ids, dtype=np.int64)
    n = lut.base_bytes[tgt_ids].astype(np.int64)
    n += lut.has_leading_space[tgt_ids] & ~lut.is_boundary[prev_ids]
    return int(n.sum())


@dataclass(frozen=True)
class ByteAudit:
    lut_bytes: int
    text_bytes: int

    @property
    def ratio(self) -> float:
        return self.text_bytes / self.lut_bytes if self.lut_bytes else float("nan")


def decode_audit(sp: spm.SentencePieceProcessor, lut: ByteLUT, ids: np.ndarray) -> ByteAudit:
    """Compare the LUT's byte total for targets ids[1:] with the UTF-8 length of their decoded text.

    The stream is cut at boundary tokens into documents and each is decoded whole,
    so byte-fallback sequences decode as the characters they spell. A U+2581 left
    in the decoded text was a space that the tokenizer could only spell in
    byte-fallback pieces (no standalone U+2581 piece), and counts as the one byte
    it was. ids[0] is context only: inside a document its own text is subtracted.
    """
    ids = np.asarray(ids, dtype=np.int64)
    lut_bytes = count_bytes(lut, ids[:-1], ids[1:])
    text_bytes = 0
    start = 0
    for end in [*np.flatnonzero(lut.is_boundary[ids]).tolist(), len(ids)]:
        run = ids[start:end].tolist()
        if run:
            text_bytes += _text_bytes(sp, run)
            if start == 0:
                text_bytes -= _text_bytes(sp, run[:1])
        start = end + 1
    return ByteAudit(lut_bytes, text_bytes)


def _text_bytes(sp: spm.SentencePieceProcessor, ids: list[int]) -> int:
    return len(sp.decode(ids).replace(SPACE, " ").encode("utf-8"))
