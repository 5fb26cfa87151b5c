from pathlib import Path

import pytest
import sentencepiece as spm

from crawler.tokenizer import train_tokenizer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Real prose for tokenizer fixtures: a FineWeb web document when ../shared exists, else our own README.
SAMPLE_TEXT = """The crawler reads a stream of tokens. Each document begins with a BOS token, and the model
learns to predict the next token. Numbers like 1234 and 2026-11-24 are split into digits.
Accented words such as café, naïve and Zürich, and symbols like ✓ or 日本 fall back to bytes."""


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is test data beside the checkout)")
    return path


def sample_docs() -> list[str]:
    docs = [SAMPLE_TEXT] * 3
    web = SHARED / "data" / "fineweb_sample" / "fineweb_sample_1doc.txt"
    if web.exists():
        docs += [p for p in web.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    return docs


@pytest.fixture(scope="session")
def small_sp() -> spm.SentencePieceProcessor:
    """A real byte-fallback BPE trained with the challenge's settings on a few kB of text."""
    return spm.SentencePieceProcessor(model_proto=train_tokenizer(sample_docs(), vocab_size=400))
