"""`pgolf eval ARTIFACT`: recompute BPB and size of any .ptz, print it, write it as JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from crawler.config import env_overrides
from crawler.contract import ARTIFACT_PASSES
from crawler.errors import exit_on_error
from crawler.files import atomic_write_text
from evaluator.artifacts.paths import evaluation_report
from evaluator.cli_inputs import at_least
from evaluator.cli_inputs import device as checked_device
from evaluator.cli_inputs import input_dir, input_file, output_file
from evaluator.records.metric_kinds import KIND_WORDS
from evaluator.units import duration

if TYPE_CHECKING:
    from evaluator.artifacts.eval_report import EvalReport


def format_report(r: EvalReport) -> str:
    s = r.size
    lines = [
        f"artifact        {r.artifact}  ({r.format}, sha256 {r.sha256[:16]}…)",
        *(f"assumed         {a}" for a in r.assumptions),
        f"data            {r.data_path}  tokenizer {r.tokenizer}",
        f"scope           {r.prefix_note}  (device {r.device}, {r.world_size} process{'es' if r.world_size > 1 else ''})",
    ]
    if r.pre_quant:
        lines.append(f"pre-quant       val_loss {r.pre_quant.val_loss:.8f}  val_bpb {r.pre_quant.val_bpb:.8f}")
    for kind in ARTIFACT_PASSES:
        m = getattr(r, kind.value)  # EvalReport has one field per pass, named by its kind
        lines.append(f"{KIND_WORDS[kind]:<15} val_loss {m.val_loss:.8f}  val_bpb {m.val_bpb:.8f}  "
                     f"(seq {m.seq_len}, stride {m.stride}, {m.scored_tokens:,} tokens, "
                     f"{m.byte_sum:,} bytes, coverage {m.coverage:.2%}, {m.seconds:.1f} s)")
    rec = r.sliding_window.reference
    if rec:
        lines.append(f"record scoring  val_loss {rec.val_loss:.8f}  val_bpb {rec.val_bpb:.8f}  "
                     f"(what the record's eval_val_sliding prints: {rec.scored_tokens:,} scorings of "
                     f"{rec.scored_tokens - rec.repeated:,} targets, {rec.repeated:,} of them repeats "
                     f"of the tail; {rec.val_bpb - r.sliding_window.val_bpb:+.8f} BPB against ours)")
    lines.append(f"byte audit      decoded {r.audit.text_bytes:,} B / LUT {r.audit.lut_bytes:,} B = {r.audit.ratio:.6f}")
    lines.append(f"model bytes     {s.model_bytes:>12,}")
    if s.code_bytes is None:
        lines.append(f"code bytes      {'?':>12}  ({s.code_source})")
    else:
        verdict = "under" if s.margin >= 0 else "OVER"
        lines += [f"code bytes      {s.code_bytes:>12,}  ({s.code_source})",
                  f"total bytes     {s.total_bytes:>12,}  {verdict} the {s.cap:,} cap by {abs(s.margin):,}"]
    if r.estimated_full_seconds is not None:
        lines.append(f"full coverage   ~{duration(r.estimated_full_seconds)} of sliding-window evaluation at this rate")
    return "\n".join(lines)


def eval_command(
    artifact: Annotated[Path, typer.Argument(help="A .ptz: ours, the Micro Crawler record's, or the official baseline's.")],
    data: Annotated[Optional[Path], typer.Option(help="Folder with fineweb_val_*.bin (default: DATA_PATH or the artifact's config).")] = None,
    tokenizer: Annotated[Optional[Path], typer.Option(help="SentencePiece model (default: TOKENIZER_PATH or DATA/tokenizer.model).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Score only the first N validation targets; 0 = all. Default: all on GPU, 65,536 on CPU.")] = None,
    loops: Annotated[Optional[int], typer.Option(help="Crawler loop count for foreign formats, whose weights do not record it (record format: 3).")] = None,
    stride: Annotated[Optional[int], typer.Option(help="Sliding-window stride (default: the artifact's eval_stride, 64).")] = None,
    seq_len: Annotated[Optional[int], typer.Option(help="Sliding-window length (default: the artifact's eval_seq_len, 2048).")] = None,
    batch_seqs: Annotated[int, typer.Option(help="Windows per forward pass.")] = 16,
    checkpoint: Annotated[Optional[Path], typer.Option(help="The float .safetensors the artifact was exported from: adds pre-quant BPB.")] = None,
    code: Annotated[Optional[list[Path]], typer.Option(help="Code files that ship with the artifact (counted toward the cap).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="JSON report path (default: ARTIFACT with .eval.json).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N (default: cuda when available).")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bars on the terminal.")] = True,
) -> None:
    """Roundtrip and sliding-window BPB, byte audit and exact size of an artifact."""
    with exit_on_error():
        env = env_overrides()
        data, tokenizer = data or env.get("data_path"), tokenizer or env.get("tokenizer_path")
        # every input is checked before the evaluation starts: a bad one costs one line, not minutes of work
        input_file(artifact, "artifact")
        for path, what in ((checkpoint, "checkpoint"), (tokenizer, "tokenizer"), *((c, "code file") for c in code or ())):
            if path is not None:
                input_file(Path(path), what)
        if data is not None:
            input_dir(Path(data), "data folder")
        for value, minimum, flag in ((max_tokens, 0, "--max-tokens"), (loops, 1, "--loops"), (stride, 1, "--stride"),
                                     (seq_len, 1, "--seq-len"), (batch_seqs, 1, "--batch-seqs")):
            at_least(value, minimum, flag)
        out = output_file(out or evaluation_report(artifact), "--out")
        # torch and the model load here, after the inputs are checked: `pgolf --help` and the text-only
        # commands import this module and must start without them
        from crawler.distributed import setup_dist
        from evaluator.artifacts.eval_report import evaluate_artifact
        from evaluator.artifacts.loading import load_float_checkpoint

        d = setup_dist(checked_device(device))
        report = evaluate_artifact(
            artifact, data_path=data, tokenizer_path=tokenizer,
            max_tokens=max_tokens, loops=loops, seq_len=seq_len,
            checkpoint_state=load_float_checkpoint(checkpoint) if checkpoint else None, stride=stride, batch_seqs=batch_seqs,
            code_files=tuple(code or ()), dist_info=d, progress=progress)
        if d.master:
            atomic_write_text(out, json.dumps(report.to_dict(), indent=1) + "\n")
            typer.echo(format_report(report))
            typer.echo(f"report          {out}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
