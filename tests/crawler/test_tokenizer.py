import pytest

from crawler.prep.tokenizer_training import train_tokenizer
from crawler.tokenizer import TokenizerError, check_vocab, load_tokenizer
from tests.conftest import sample_docs


def test_training_is_deterministic():
    docs = sample_docs()
    assert train_tokenizer(docs, vocab_size=400) == train_tokenizer(docs, vocab_size=400)


def test_challenge_settings(small_sp):
    sp = small_sp
    assert (sp.pad_id(), sp.bos_id(), sp.eos_id(), sp.unk_id()) == (0, 1, 2, 3)
    # byte_fallback puts <0x00>..<0xFF> right after the four specials
    assert all(sp.is_byte(i) for i in range(4, 260)) and sp.id_to_piece(4) == "<0x00>"
    # split_digits: every digit is its own piece
    assert [sp.id_to_piece(i) for i in sp.encode("2026")] == ["2", "0", "2", "6"]
    # add_dummy_prefix=False: a document's first word carries no U+2581
    assert not sp.id_to_piece(sp.encode("The crawler")[0]).startswith("\u2581")
    # characters outside the training text are spelled in bytes, never <unk>
    assert sp.unk_id() not in sp.encode("Ω")


def test_load_errors(tmp_path):
    with pytest.raises(TokenizerError, match="tokenizer not found"):
        load_tokenizer(tmp_path / "missing.model")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(TokenizerError, match="not a SentencePiece model"):
        load_tokenizer(bad)


def test_vocab_mismatch_is_named(small_sp):
    with pytest.raises(TokenizerError, match="400 pieces but VOCAB_SIZE is 1024"):
        check_vocab(small_sp, 1024, "tok.model")
