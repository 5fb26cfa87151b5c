import math

import numpy as np
import pytest
import sentencepiece as spm

from crawler.bpb import SPACE, ByteLUT, bits_per_byte, build_byte_lut
from crawler.prep.tokenizer_training import train_tokenizer
from evaluator.artifacts.decode_audit import count_bytes, decode_audit
from tests.conftest import shared_path


def _space_piece(sp):
    """Some multi-character piece with a leading U+2581, and its text after the space."""
    for i in range(sp.vocab_size()):
        piece = sp.id_to_piece(i)
        if piece.startswith(SPACE) and len(piece) > 2:
            return i, piece[1:]
    raise AssertionError("no leading-space piece in the fixture tokenizer")


def test_lut_on_hand_built_stream(small_sp):
    sp = small_sp
    lut = build_byte_lut(sp, sp.vocab_size())
    bos, c3, a9 = sp.bos_id(), sp.piece_to_id("<0xC3>"), sp.piece_to_id("<0xA9>")
    word, rest = _space_piece(sp)
    assert lut.base_bytes[[bos, c3, word]].tolist() == [0, 1, len(rest.encode())]
    assert lut.has_leading_space[word] and not lut.has_leading_space[c3]
    assert lut.is_boundary[[0, 1, 2, 3]].all() and not lut.is_boundary[[c3, word]].any()
    stream = np.array([bos, c3, a9, word, bos, word])
    # targets: c3 1, a9 1, word after a byte piece len+1, bos 0, word after BOS len (its space is not counted)
    assert count_bytes(lut, stream[:-1], stream[1:]) == 1 + 1 + (len(rest) + 1) + 0 + len(rest)


@pytest.mark.parametrize("text", ["The crawler reads a stream of tokens.", "café and Zürich", "日本 ✓ Ω", "1234 5678"])
def test_lut_counts_the_utf8_bytes_of_a_document(small_sp, text):
    sp = small_sp
    ids = np.array([sp.bos_id(), *sp.encode(text)])
    assert count_bytes(build_byte_lut(sp, sp.vocab_size()), ids[:-1], ids[1:]) == len(text.encode("utf-8"))


def test_padded_vocab_ids_are_zero_byte_boundaries(small_sp):
    lut = build_byte_lut(small_sp, 1024)
    assert len(lut.base_bytes) == 1024 and lut.is_boundary[small_sp.vocab_size():].all()
    assert not lut.base_bytes[small_sp.vocab_size():].any()


def test_bits_per_byte_formula():
    assert bits_per_byte(100.0, 50) == 100 / (50 * math.log(2))  # the same two float64 operations
    # 2 / ln 2 to 16 digits; the quotient is within 3 ulps of it (ln 2 and two roundings): 1e-12 holds with room
    assert bits_per_byte(100.0, 50) == pytest.approx(2.885390081777927, rel=1e-12)
    with pytest.raises(ValueError):
        bits_per_byte(1.0, 0)


def test_audit_agrees_on_byte_fallback_text(small_sp):
    sp = small_sp
    docs = ["café, naïve, Zürich.", "日本 ✓ 2026", "The crawler reads tokens."]
    ids = np.array([t for d in docs for t in [sp.bos_id(), *sp.encode(d)]])
    audit = decode_audit(sp, build_byte_lut(sp, sp.vocab_size()), ids)
    assert audit.lut_bytes == audit.text_bytes == sum(len(d.encode()) for d in docs)
    assert audit.ratio == 1.0


def test_audit_starting_mid_document(small_sp):
    sp = small_sp
    text = "The crawler reads a stream of tokens."
    ids = np.array(sp.encode(text))
    audit = decode_audit(sp, build_byte_lut(sp, sp.vocab_size()), ids)
    first = sp.decode(ids[:1].tolist())
    assert audit.text_bytes == len(text.encode()) - len(first.encode()) == audit.lut_bytes


def test_audit_catches_a_wrong_lut(small_sp):
    sp = small_sp
    good = build_byte_lut(sp, sp.vocab_size())
    no_spaces = ByteLUT(good.base_bytes, np.zeros_like(good.has_leading_space), good.is_boundary)
    ids = np.array([sp.bos_id(), *sp.encode("The crawler reads a stream of tokens and learns.")])
    audit = decode_audit(sp, no_spaces, ids)
    assert audit.lut_bytes < audit.text_bytes and audit.ratio > 1.0


def test_audit_on_tokenizer_without_a_standalone_space_piece():
    # Trained on text without spaces, the tokenizer can only spell U+2581 as three byte pieces:
    # the LUT charges 3 bytes for what was 1 byte of text, and the audit must show it.
    sp = spm.SentencePieceProcessor(model_proto=train_tokenizer(["thecatsatonthemat", "adogranfaraway"] * 20, vocab_size=300))
    assert sp.is_unknown(sp.piece_to_id(SPACE))
    ids = np.array([sp.bos_id(), *sp.encode("the cat sat")])
    audit = decode_audit(sp, build_byte_lut(sp, sp.vocab_size()), ids)
    assert (audit.lut_bytes, audit.text_bytes) == (15, 11)
    assert audit.ratio == 11 / 15  # the same division


def test_audit_with_the_unofficial_fineweb_tokenizer():
    sp = spm.SentencePieceProcessor(model_file=str(shared_path("data", "tokenizers", "unofficial", "lab_fineweb_1024_bpe_NOT_OFFICIAL.model")))
    text = shared_path("data", "fineweb_sample", "fineweb_sample_1doc.txt").read_text(encoding="utf-8")
    lut = build_byte_lut(sp, 1024)
    assert not any(sp.is_byte(i) for i in range(1024)) and lut.has_leading_space.sum() > 300
    ids = np.array([sp.bos_id(), *sp.encode(text)])
    audit = decode_audit(sp, lut, ids)
    unknown = int((ids == sp.unk_id()).sum())
    assert audit.lut_bytes > 0 and (unknown > 0 or audit.ratio == 1.0)
