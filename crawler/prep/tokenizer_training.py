"""SentencePiece BPE with the challenge's SP-1024 trainer settings."""
from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import sentencepiece as spm

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
