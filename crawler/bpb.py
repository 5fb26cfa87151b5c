"""Bits per byte exactly as the challenge computes it.

Each target token is charged the UTF-8 bytes of its piece: control, unknown and
unused ids are boundaries worth 0 bytes, byte-fallback pieces are worth 1, other
pieces the UTF-8 length after stripping a leading U+2581, plus 1 for that space
unless the previous token is a boundary. BPB = sum(nll nats) / (ln 2 * sum(bytes)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch

from crawler.tokenizer import check_vocab, load_tokenizer

SPACE = "\u2581"


@dataclass(frozen=True)
class ByteLUT:
    base_bytes: np.ndarray  # (V,) int16
    has_leading_space: np.ndarray  # (V,) bool
    is_boundary: np.ndarray  # (V,) bool

    def to_torch(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (torch.as_tensor(self.base_bytes, dtype=torch.int16, device=device),
                torch.as_tensor(self.has_leading_space, device=device),
                torch.as_tensor(self.is_boundary, device=device))


def build_byte_lut(sp: spm.SentencePieceProcessor, vocab_size: int) -> ByteLUT:
    # Ids past the tokenizer's own vocabulary (a padded embedding) score as boundaries.
    size = max(sp.vocab_size(), vocab_size)
    base = np.zeros(size, dtype=np.int16)
    space = np.zeros(size, dtype=bool)
    boundary = np.ones(size, dtype=bool)
    for i in range(sp.vocab_size()):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith(SPACE):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return ByteLUT(base, space, boundary)


def load_byte_lut(tokenizer_path: str | Path, vocab_size: int) -> ByteLUT:
    sp = load_tokenizer(tokenizer_path)
    check_vocab(sp, vocab_size, tokenizer_path)
    return build_byte_lut(sp, vocab_size)


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    if n_bytes <= 0:
        raise ValueError("no bytes scored")
    return float(nll_nats) / (math.log(2) * float(n_bytes))
