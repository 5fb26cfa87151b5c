"""What the loop-wise analysis costs against the scoring passes, in passes of the model over its slice: the weight the
web app's job plan gives it (evaluator.serving.evaluation.LOOPS_PASSES), so that the job page's estimate covers it.

    python benchmarks/loops_weight.py                      # tiny preset, 65,536 targets, 4,096 analysis tokens
    python benchmarks/loops_weight.py --targets 8192 --loops-tokens 1024 --threads 2

An untrained Micro Crawler of the tiny preset (the CPU demo's shape; random weights cost what trained ones do) is
exported and evaluated as a job would be, on validation text built from the test corpus; each stage is timed, and
the analysis is expressed as the tokens the sliding-window pass would have fed the model in the same time, per token
of the analysis' slice. Prints the stage rates and the ratio measured / LOOPS_PASSES, all from the same run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.config import load_config  # noqa: E402
from crawler.model import CrawlerGPT  # noqa: E402
from crawler.prep.prepare import prepare_data  # noqa: E402
from crawler.ptz import export_model  # noqa: E402
from evaluator.artifacts.eval_report import evaluate_artifact  # noqa: E402
from tests.conftest import TINY_CODE, TINY_VOCAB, sample_docs  # noqa: E402
from evaluator.serving.evaluation import LOOPS_PASSES, run_loop_analysis  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=65_536)
    parser.add_argument("--loops-tokens", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(tempfile.mkdtemp(prefix="loops-weight-"))
    docs = sample_docs()
    data = out / "data"
    prepare_data([f"Document {i}. " + docs[i % len(docs)] for i in range(2000)], data, "bench", vocab_size=TINY_VOCAB,
                 val_docs=1000)
    cfg = load_config("tiny", environ={}, data_path=str(data), vocab_size=TINY_VOCAB)
    torch.manual_seed(0)
    (out / "train_gpt.py").write_bytes(TINY_CODE)
    export_model(CrawlerGPT(cfg), cfg, data / "tokenizer.model", [out / "train_gpt.py"], out / "model.ptz")

    plan: dict[str, int] = {}
    last: dict[str, float] = {}
    t0 = time.perf_counter()
    began = {}

    def on_plan(stages) -> None:
        plan.update({str(name): tokens for name, tokens in stages})
        began["scoring"] = time.perf_counter() - t0

    evaluate_artifact(out / "model.ptz", data_path=data, tokenizer_path=data / "tokenizer.model",
                      max_tokens=args.targets, on_plan=on_plan,
                      on_progress=lambda stage, scored, total: last.__setitem__(str(stage), time.perf_counter() - t0))
    scored = time.perf_counter() - t0
    run_loop_analysis(out / "model.ptz", data, data / "tokenizer.model", {}, args.loops_tokens, torch.device("cpu"))
    analysis = time.perf_counter() - t0 - scored

    roundtrip_s = last["roundtrip"] - began["scoring"]
    sliding_s = last["sliding_window"] - last["roundtrip"]
    sliding_rate = plan["sliding_window"] / sliding_s
    passes = analysis * sliding_rate / args.loops_tokens
    print(f"tiny preset, {args.targets:,} targets, {args.loops_tokens:,} analysis tokens, {args.threads} thread(s)")
    print(f"roundtrip       {plan['roundtrip']:>9,} tokens in {roundtrip_s:7.2f} s = {plan['roundtrip'] / roundtrip_s:9,.0f} tok/s")
    print(f"sliding window  {plan['sliding_window']:>9,} tokens in {sliding_s:7.2f} s = {sliding_rate:9,.0f} tok/s")
    print(f"loop analysis   {args.loops_tokens:>9,} tokens in {analysis:7.2f} s = {passes:.2f} sliding-window passes")
    print(f"measured / LOOPS_PASSES ({LOOPS_PASSES}) = {passes / LOOPS_PASSES:.2f}")


if __name__ == "__main__":
    main()
