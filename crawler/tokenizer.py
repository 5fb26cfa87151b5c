"""The SentencePiece tokenizer a run reads (crawler.prep trains it), checked against the config's vocabulary."""
from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from crawler.errors import PgolfError, first_line


class TokenizerError(PgolfError, ValueError):
    pass


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
