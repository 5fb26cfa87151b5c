"""The rANS coder of the `.ptz` rans codec (its layout: crawler.ptz), interleaved over `lanes` states."""
from __future__ import annotations

import math
import struct

import numpy as np
import torch

from crawler.errors import ArtifactError
from crawler.quant import QTensor, row_count

RANS_PREC = 15  # table total 2**15; with 255 symbols every present symbol still gets a frequency >= 1
RANS_L = 1 << 16  # states live in [2**16, 2**32) and renormalise by 16-bit words
RANS_CLASSES = 16  # row classes per scheme, each with its own frequency table
TABLE_BYTES = 2 * RANS_CLASSES * (63 + 255)  # the uint16 frequency tables at the head of the side stream


def _normalize(counts: np.ndarray) -> np.ndarray:
    """Frequencies summing to 2**RANS_PREC, >= 1 for every symbol that occurs."""
    total = 1 << RANS_PREC
    f = np.where(counts > 0, np.maximum(1, counts * total // max(int(counts.sum()), 1)), 0)
    if not f.any():
        f[0] = total
    f[np.argmax(f)] += total - f.sum()
    return f.astype(np.uint64)


def _lanes_for(n: int) -> int:
    # enough lanes that the per-step numpy overhead is amortised, few enough that the 4-byte states stay cheap
    return 1 << min(10, max(0, (n >> 12).bit_length()))


def _padded(sym: np.ndarray, tid: np.ndarray, freq: np.ndarray, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    pad = -len(sym) % lanes
    last = tid[-1] if len(tid) else 0
    return (np.concatenate((sym, np.full(pad, np.argmax(freq[last]), np.uint8))),
            np.concatenate((tid, np.full(pad, last, tid.dtype))))


def rans_encode(sym: np.ndarray, tid: np.ndarray, freq: np.ndarray, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """(final states uint32 (lanes,), words uint16): symbol sym[i] under table freq[tid[i]]."""
    cum = np.cumsum(freq, axis=1) - freq
    sym, tid = _padded(sym, tid, freq, lanes)
    x = np.full(lanes, RANS_L, np.uint64)
    chunks = []
    for step in range(len(sym) // lanes - 1, -1, -1):  # rANS encodes backwards so the decoder runs forwards
        t, s = tid[step * lanes:(step + 1) * lanes], sym[step * lanes:(step + 1) * lanes]
        f, c = freq[t, s], cum[t, s]
        m = x >= f << np.uint64(32 - RANS_PREC)
        chunks.append((x[m] & np.uint64(0xFFFF)).astype(np.uint16))
        x[m] >>= np.uint64(16)
        x = ((x // f) << np.uint64(RANS_PREC)) + x % f + c
    return x.astype(np.uint32), np.concatenate(chunks[::-1]) if chunks else np.zeros(0, np.uint16)


def rans_decode(states: np.ndarray, words: np.ndarray, tid: np.ndarray, freq: np.ndarray, where: str) -> np.ndarray:
    """The len(tid) symbols rans_encode wrote; ArtifactError if the words do not decode back to the start state."""
    n, lanes = len(tid), len(states)
    cum = np.cumsum(freq, axis=1) - freq
    lookup = np.stack([np.repeat(np.arange(freq.shape[1], dtype=np.uint8), f.astype(np.int64)) for f in freq])
    _, tid = _padded(np.zeros(n, np.uint8), tid, freq, lanes)
    out = np.empty(len(tid), np.uint8)
    x = states.astype(np.uint64)
    mask, pos = np.uint64((1 << RANS_PREC) - 1), 0
    for step in range(len(tid) // lanes):
        sl = slice(step * lanes, (step + 1) * lanes)
        t, slot = tid[sl], x & mask
        s = lookup[t, slot]
        x = freq[t, s] * (x >> np.uint64(RANS_PREC)) + slot - cum[t, s]
        m = x < RANS_L
        k = int(np.count_nonzero(m))
        if pos + k > len(words):
            raise ArtifactError(f"{where}: corrupt rANS stream (runs out of words)")
        x[m] = (x[m] << np.uint64(16)) | words[pos:pos + k]
        pos += k
        out[sl] = s
    if pos != len(words) or (x != RANS_L).any():
        raise ArtifactError(f"{where}: corrupt rANS stream (does not end where it began)")
    return out[:n]


def _row_classes(q: np.ndarray) -> np.ndarray:
    """Each row's class: half-octave bin of its mean |q|. Rows of one spread share a table, so the
    coder follows the spread from row to row, which one table per tensor cannot."""
    spread = np.abs(q.astype(np.float32)).mean(axis=1)
    return np.clip(np.floor(2 * np.log2(np.maximum(spread, 1e-3) * 4)), 0, RANS_CLASSES - 1).astype(np.uint8)


def _table_layout(scheme: str) -> tuple[int, int]:
    """(first table index, alphabet size) of a scheme's RANS_CLASSES tables."""
    return (0, 63) if scheme == "int6" else (RANS_CLASSES, 255)


def encode_rans(qsd: dict[str, QTensor]) -> tuple[bytes, bytes]:
    """(side stream, rANS stream) of the quantised tensors; the container compresses the side stream."""
    quantised = [qt for qt in qsd.values() if qt.scheme != "fp16"]
    syms, tids, classes = [], [], []
    for qt in quantised:
        q = qt.data.numpy().astype(np.int16)
        first, size = _table_layout(qt.scheme)
        c = _row_classes(q)
        syms.append((q + size // 2).astype(np.uint8).ravel())
        tids.append(np.repeat(c + first, q.shape[1]))
        classes.append(c)
    sym = np.concatenate(syms) if syms else np.zeros(0, np.uint8)
    tid = np.concatenate(tids) if tids else np.zeros(0, np.uint8)
    counts = np.bincount(tid.astype(np.int64) * 255 + sym, minlength=2 * RANS_CLASSES * 255).reshape(-1, 255)
    freq = np.stack([_normalize(c) for c in counts])
    halves = [qt.scale.numpy().view(np.uint16) for qt in quantised]
    halves += [qt.data.numpy().ravel().view(np.uint16) for qt in qsd.values() if qt.scheme == "fp16"]
    h = np.concatenate(halves) if halves else np.zeros(0, np.uint16)
    side = b"".join((freq[:RANS_CLASSES, :63].astype("<u2").tobytes(), freq[RANS_CLASSES:].astype("<u2").tobytes(),
                     *(c.tobytes() for c in classes), (h & 0xFF).astype(np.uint8).tobytes(),
                     (h >> 8).astype(np.uint8).tobytes()))
    lanes = _lanes_for(len(sym))
    states, words = rans_encode(sym, tid, freq, lanes)
    return side, struct.pack("<H", lanes) + states.astype("<u4").tobytes() + words.astype("<u2").tobytes()


def _row_and_half_counts(entries: list) -> tuple[int, int]:
    """(rows of the quantised tensors, float16 values: their row scales and the fp16 tensors)."""
    n_rows = sum(row_count(shape) for _, scheme, shape in entries if scheme != "fp16")
    return n_rows, n_rows + sum(math.prod(shape) for _, scheme, shape in entries if scheme == "fp16")


def side_stream_bytes(entries: list) -> int:
    """The side stream's exact length for the tensors a manifest lists."""
    n_rows, n_half = _row_and_half_counts(entries)
    return TABLE_BYTES + n_rows + 2 * n_half


def decode_rans(side: bytes, stream: bytes, entries: list, where: str) -> dict[str, QTensor]:
    """The tensors encode_rans wrote, from its side stream (of side_stream_bytes(entries)) and its rANS stream."""
    quantised = [(name, scheme, shape) for name, scheme, shape in entries if scheme != "fp16"]
    n_rows, n_half = _row_and_half_counts(entries)
    (lanes,) = struct.unpack_from("<H", stream)
    body = stream[2:]
    if lanes == 0 or len(body) < 4 * lanes or (len(body) - 4 * lanes) % 2:
        raise ArtifactError(f"{where}: truncated or malformed rANS stream")
    states = np.frombuffer(body, "<u4", lanes)
    words = np.frombuffer(body, "<u2", offset=4 * lanes).astype(np.uint64)
    if (states < RANS_L).any():
        raise ArtifactError(f"{where}: corrupt rANS states")

    freq = np.zeros((2 * RANS_CLASSES, 255), np.uint64)
    freq[:RANS_CLASSES, :63] = np.frombuffer(side, "<u2", RANS_CLASSES * 63).reshape(-1, 63)
    freq[RANS_CLASSES:] = np.frombuffer(side, "<u2", RANS_CLASSES * 255, 2 * RANS_CLASSES * 63).reshape(-1, 255)
    if (freq.sum(axis=1) != 1 << RANS_PREC).any():
        raise ArtifactError(f"{where}: corrupt rANS frequency table")
    classes = np.frombuffer(side, np.uint8, n_rows, TABLE_BYTES)
    if (classes >= RANS_CLASSES).any():
        raise ArtifactError(f"{where}: corrupt rANS row class")
    pos = TABLE_BYTES + n_rows
    h = np.frombuffer(side, np.uint8, n_half, pos).astype(np.uint16) | \
        (np.frombuffer(side, np.uint8, n_half, pos + n_half).astype(np.uint16) << 8)

    tids, rpos = [], 0
    for _, scheme, shape in quantised:
        rows = row_count(shape)
        tids.append(np.repeat(classes[rpos:rpos + rows] + _table_layout(scheme)[0], math.prod(shape) // rows))
        rpos += rows
    tid = np.concatenate(tids) if tids else np.zeros(0, np.uint8)
    sym = rans_decode(states, words, tid, freq, where)
    out, spos, hpos = {}, 0, 0
    for name, scheme, shape in quantised:
        rows, n = row_count(shape), math.prod(shape)
        q = (sym[spos:spos + n].astype(np.int16) - _table_layout(scheme)[1] // 2).astype(np.int8).reshape(rows, -1)
        scale = h[hpos:hpos + rows].view(np.float16).copy()
        out[name] = QTensor(scheme, shape, torch.from_numpy(q), torch.from_numpy(scale))
        spos, hpos = spos + n, hpos + rows
    for name, scheme, shape in entries:
        if scheme == "fp16":
            n = math.prod(shape)
            data = torch.from_numpy(h[hpos:hpos + n].view(np.float16).reshape(shape).copy())
            out[name] = QTensor(scheme, shape, data)
            hpos += n
    return {name: out[name] for name, _, _ in entries}
