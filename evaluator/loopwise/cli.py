"""`pgolf loops ARTIFACT`: per-loop analysis of a crawler on a seeded validation slice, as JSON and PNGs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from crawler.config import env_overrides
from crawler.errors import exit_on_error
from crawler.files import atomic_write_text, writable_folder
from evaluator.cli_inputs import at_least
from evaluator.cli_inputs import device as checked_device
from evaluator.cli_inputs import input_dir, input_file
from evaluator.loopwise.loops_report import LoopsReport
from evaluator.loopwise.output_files import OUTPUT_FOLDER, REPORT_FILE


def format_table(r: LoopsReport) -> str:
    quant = {q.stage: q.rel_error for q in r.quant_error or ()}
    attn = {a.stage: a for a in r.attention}
    lines = [f"{'stage':<12} {'lens BPB':>9} {'rank':>7} {'rms':>8} {'attn dist':>9} {'last8':>6} {'quant err':>9}"]
    for lens, act in zip(r.logit_lens, r.activations):
        a = attn.get(lens.stage)
        dist = f"{a.mean_distance:9.2f}" if a else f"{'':9}"
        mass = f"{a.mean_mass_last8:6.3f}" if a else f"{'':6}"
        q = f"{quant[lens.stage]:9.5f}" if lens.stage in quant else f"{'':9}"
        lines.append(f"{lens.stage:<12} {lens.bpb:9.4f} {lens.mean_rank:7.1f} {act.rms:8.3f} {dist} {mass} {q}")
    lines.append("early exit   " + "  ".join(
        f"k={e.loops}{'*' if e.trained else ''}: " + (f"{e.bpb:.4f}" if e.bpb is not None else "n/a")
        for e in r.early_exit))
    if r.repr_change:
        rc = r.repr_change
        lines.append("rel step     " + "  ".join(f"loop{k}: {s:.4f}" for k, s in enumerate(rc.rel_step)))
        lines.append("update cos   " + "  ".join(f"loop{k + 1}: {c:.4f}" for k, c in enumerate(rc.update_cosine)))
    return "\n".join(lines)


def loops_command(
    artifact: Annotated[Path, typer.Argument(help="A .ptz the crawler model can run (ours or the record's).")],
    checkpoint: Annotated[Optional[Path], typer.Option(help="Float .safetensors of the same model: adds quantisation error per stage.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Folder with fineweb_val_*.bin (default: DATA_PATH or the artifact's config).")] = None,
    tokenizer: Annotated[Optional[Path], typer.Option(help="SentencePiece model (default: TOKENIZER_PATH or DATA/tokenizer.model).")] = None,
    tokens: Annotated[int, typer.Option(help="Scored tokens in the slice (rounded down to whole windows).")] = 16384,
    seq_len: Annotated[Optional[int], typer.Option(help="Window length (default: the artifact's eval_seq_len).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the window offsets.")] = 0,
    extra_loops: Annotated[int, typer.Option(help="Early exit also runs this many loops beyond the trained count.")] = 2,
    loops: Annotated[Optional[int], typer.Option(help="Loop count for record files, whose weights do not record it.")] = None,
    batch_seqs: Annotated[int, typer.Option(help="Windows per forward pass.")] = 4,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: ARTIFACT's folder / loops).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N (default: cuda when available).")] = None,
) -> None:
    """Logit lens, early exit, representation change, attention horizons, quantisation error and
    activation statistics per crawler loop."""
    with exit_on_error():
        env = env_overrides()
        data, tokenizer = data or env.get("data_path"), tokenizer or env.get("tokenizer_path")
        # every input is checked before the analysis starts: a bad one costs one line, not minutes of work
        input_file(artifact, "artifact")
        for path, what in ((checkpoint, "checkpoint"), (tokenizer, "tokenizer")):
            if path is not None:
                input_file(Path(path), what)
        if data is not None:
            input_dir(Path(data), "data folder")
        for value, minimum, flag in ((tokens, 1, "--tokens"), (seq_len, 1, "--seq-len"), (extra_loops, 0, "--extra-loops"),
                                     (loops, 1, "--loops"), (batch_seqs, 1, "--batch-seqs")):
            at_least(value, minimum, flag)
        # torch, the model and matplotlib load here, once the command runs: `pgolf --help` and the text-only
        # commands import this module and must start without them
        import torch

        from evaluator.artifacts.loading import load_float_checkpoint
        from evaluator.loopwise.analysis import MAX_LOOPS, LoopsError, analyse_artifact
        from evaluator.loopwise.loop_plots import write_plots

        if extra_loops > MAX_LOOPS:
            raise LoopsError(f"--extra-loops must be at most {MAX_LOOPS}, got {extra_loops}")
        out = writable_folder(out or artifact.parent / OUTPUT_FOLDER, "--out")
        device = checked_device(device)
        report = analyse_artifact(
            artifact, data, tokenizer, tokens=tokens,
            seq_len=seq_len, seed=seed, loops=loops,
            float_state_dict=None if checkpoint is None else load_float_checkpoint(checkpoint),
            extra_loops=extra_loops, batch_seqs=batch_seqs,
            device=device or ("cuda" if torch.cuda.is_available() else "cpu"), progress=True)
        report.checkpoint = str(checkpoint) if checkpoint else None
        out.mkdir(parents=True, exist_ok=True)
        path = out / REPORT_FILE
        atomic_write_text(path, json.dumps(report.to_dict(), indent=1) + "\n")
        plots = write_plots(report, out)
        typer.echo(format_table(report))
        typer.echo(f"report       {path}")
        typer.echo(f"plots        {', '.join(p.name for p in plots)}")


def register(app: typer.Typer) -> None:
    app.command("loops")(loops_command)
