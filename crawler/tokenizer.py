"""SentencePiece BPE with the challenge's SP-1024 trainer settings."""
from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

from crawler.errors import PgolfError, first_line

# The settings of the challenge's data exporter; ids 0..3 are pad/bos/eos/unk.
TRAINER_SETTINGS = dict(
    model_type="bpe",
    character_coverage=0.999,
    byte_fallback=True,
    split_digits=True,
    normalization_rule_name="nmt_nfkc",
    add_dummy_prefix=False,
    pad_id=0,
    bos_id=1,
    eos_id=2,
    unk_id=3,
    hard_vocab_limit=False,
)


class TokenizerError(PgolfError, ValueError):
    pass


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024, num_threads: int = 1) -> bytes:
    """Serialized model proto. One thread and no sampling, so the same texts give the same bytes."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=_non_empty(texts),
        model_writer=model,
        vocab_size=vocab_size,
        num_threads=num_threads,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        max_sentence_length=1 << 20,
        minloglevel=2,
        **TRAINER_SETTINGS,
    )
    return model.getvalue()


def _non_empty(texts: Iterable[str]) -> Iterator[str]:
    return (t for t in texts if t.strip())


def load_tokenizer(path: str | Path) -> spm.SentencePieceProcessor:
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"{path}: tokenizer not found (run `pgolf prepare-data` or set TOKENIZER_PATH)")
    sp = spm.SentencePieceProcessor()
    try:
        sp.load(str(path))
    except (OSError, RuntimeError) as e:
        raise TokenizerError(f"{path}: not a SentencePiece model ({first_line(e)})") from None
    return sp


def check_vocab(sp: spm.SentencePieceProcessor, vocab_size: int, where: str | Path) -> None:
    if sp.vocab_size() != vocab_size:
        raise TokenizerError(f"{where}: tokenizer has {sp.vocab_size()} pieces but VOCAB_SIZE is {vocab_size}")


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
