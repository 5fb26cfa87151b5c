"""`pgolf prepare-data`: text -> tokenizer + shards."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crawler.errors import exit_on_error
from crawler.files import writable_folder


def prepare_data_command(
    input: Annotated[Optional[Path], typer.Option(help="Folder of .txt (one document each) and .jsonl ({'text': ...} per line) files; default: the embedded Wikipedia corpus.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: DATA_PATH, else data/wiki_sp1024).")] = None,
    vocab_size: Annotated[Optional[int], typer.Option(help="Tokenizer vocabulary (default: VOCAB_SIZE, else 1024).")] = None,
    val_docs: Annotated[int, typer.Option(help="The last N documents are the validation split.")] = 500,
    force: Annotated[bool, typer.Option(help="Rebuild even if OUT already holds this corpus.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Where the default corpus is cached (default ~/.cache/pgolf).")] = None,
) -> None:
    """Train the SP-1024 tokenizer and write train/val shards in the challenge's layout."""
    from crawler.prep.prepare import prepare_corpus  # numpy and sentencepiece: only when preparing

    with exit_on_error():
        if out is not None:
            writable_folder(out, "--out")
        typer.echo(prepare_corpus(input, out, vocab_size, val_docs, force, cache_dir)[1])


def register(app: typer.Typer) -> None:
    app.command("prepare-data")(prepare_data_command)
