"""The crawler tests' fixtures."""
from __future__ import annotations

import pytest
import sentencepiece as spm

from crawler.prep.tokenizer_training import train_tokenizer
from tests.conftest import sample_docs


@pytest.fixture(scope="session")
def small_sp() -> spm.SentencePieceProcessor:
    """A real byte-fallback BPE trained with the challenge's settings on a few kB of text."""
    return spm.SentencePieceProcessor(model_proto=train_tokenizer(sample_docs(), vocab_size=400))
