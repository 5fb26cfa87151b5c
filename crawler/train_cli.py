"""`pgolf train`, and `python -m crawler.train_cli` / `torchrun -m crawler.train_cli` with the same flags."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crawler.config import ConfigError, load_config, shorten_openmp_spin
from crawler.errors import exit_on_error
from crawler.files import writable_folder

shorten_openmp_spin()  # before any torch import: libgomp reads it once, when torch loads it


def parse_sets(items: list[str]) -> dict[str, str]:
    overrides = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        overrides[key.strip().lower()] = value.strip()
    return overrides


def train_command(
    preset: Annotated[str, typer.Option(help="Starting values: tiny (CPU scale) or leg3 (the reference run).")] = "leg3",
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file of config fields (over the preset).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="key=value for any config field (repeatable); wins over everything.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Data folder with fineweb_{train,val}_*.bin (DATA_PATH).")] = None,
    tokenizer: Annotated[Optional[Path], typer.Option(help="SentencePiece model (default: DATA/tokenizer.model).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (SEED).")] = None,
    max_seconds: Annotated[Optional[float], typer.Option(help="Wallclock cap on training steps, seconds; 0 = none.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output root; the run goes to OUT/RUN_ID/ (default runs).")] = None,
    run_id: Annotated[Optional[str], typer.Option(help="Run name (default: the preset's).")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bars on the terminal (never in train.log).")] = True,
) -> None:
    """Train the Micro Crawler, then export, reload and score the int6+zstd artifact."""
    with exit_on_error():
        overrides = dict(data_path=str(data) if data else None, tokenizer_path=str(tokenizer) if tokenizer else None,
                         seed=seed, max_wallclock_seconds=max_seconds, out_dir=str(out) if out else None, run_id=run_id)
        overrides.update(parse_sets(set_ or []))
        cfg = load_config(preset, config, **overrides)
        writable_folder(Path(cfg.out_dir) / cfg.run_id, "--out")
        from crawler.train import train  # here, so that `pgolf --help` does not pay for importing torch

        train(cfg, progress=progress)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def main() -> None:
    typer.run(train_command)


if __name__ == "__main__":
    main()
