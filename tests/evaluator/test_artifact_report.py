import json

import pytest
import torch
from typer.testing import CliRunner

from crawler.bpb import build_byte_lut
from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.prep.prepare import prepare_data
from crawler.ptz import export_model
from crawler.quant import dequantize_state_dict, quantize_state_dict
from crawler.scoring import evaluate_bpb, plan_windows, score_plans
from crawler.shards import load_split
from crawler.tokenizer import load_tokenizer
from evaluator.artifacts.eval_report import EvalReport, evaluate_artifact
from evaluator.artifacts.reference_plan import reference_plan
from pgolf import app
from tests.conftest import sample_docs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalrun")
    docs = [f"Document {i}. " + sample_docs()[i % 3] for i in range(40)]
    prepare_data(docs, tmp / "data", "test", vocab_size=400, val_docs=8)
    cfg = load_config("tiny", data_path=str(tmp / "data"), vocab_size=400, model_dim=64, num_heads=2, num_kv_heads=1,
                      train_seq_len=64, eval_seq_len=64, eval_stride=16, bigram_vocab_size=64, bigram_dim=16)
    torch.manual_seed(0)
    model = CrawlerGPT(cfg)
    with torch.no_grad():  # zero-init projections would make every score identical; give the weights some life
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    code = tmp / "train_gpt.py"
    code.write_text("print('entry')\n")
    info = export_model(model, cfg, tmp / "data" / "tokenizer.model", [code], tmp / "model.ptz")
    return tmp, cfg, model, info


def test_roundtrip_equals_the_in_memory_dequantised_model(run):
    tmp, cfg, model, info = run
    report = evaluate_artifact(tmp / "model.ptz", max_tokens=0)
    deq = CrawlerGPT(cfg)
    deq.load_state_dict(dequantize_state_dict(quantize_state_dict(model.state_dict())))
    val = load_split(tmp / "data", "val", 400)
    lut = build_byte_lut(load_tokenizer(tmp / "data" / "tokenizer.model"), 400)
    direct = evaluate_bpb(deq, val, lut, seq_len=64, stride=64, batch_seqs=16, device="cpu")
    assert report.roundtrip.val_bpb == direct.val_bpb
    assert report.roundtrip.byte_sum == direct.byte_sum
    # equal, not close: the same windows in the same batches as the report's pass, which also scores the reference
    # script's plan (without them, the batches' float64 partial sums could group the same terms differently)
    reference = report.sliding_window.reference
    n = len(val) - 1
    plans = [plan_windows(n, 64, 16), reference_plan(reference.scored_tokens - reference.repeated, 64, 16)]
    sliding, _ = score_plans(deq, val, lut, n, plans, seq_len=64, stride=16, batch_seqs=16, device="cpu")
    assert report.sliding_window.val_bpb == sliding.val_bpb and report.sliding_window.coverage == 1.0
    assert report.audit.ratio == 1.0
    s = report.size
    assert s.model_bytes == (tmp / "model.ptz").stat().st_size == info["model_bytes"]
    assert s.code_bytes == len("print('entry')\n") and s.total_bytes == s.model_bytes + s.code_bytes
    assert s.margin == 16_000_000 - s.total_bytes and report.prefix_note == "full validation split"


def test_prequant_from_the_float_checkpoint(run, tmp_path):
    from safetensors.torch import save_file
    _, cfg, model, _ = run
    tmp = run[0]
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "float.safetensors"))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["eval", str(tmp / "model.ptz"), "--checkpoint", str(tmp_path / "float.safetensors"),
                                   "--max-tokens", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    val = load_split(tmp / "data", "val", 400)
    lut = build_byte_lut(load_tokenizer(tmp / "data" / "tokenizer.model"), 400)
    direct = evaluate_bpb(model, val, lut, seq_len=64, stride=64, batch_seqs=16, device="cpu")
    report = EvalReport.from_dict(json.loads(out.read_text()))
    assert report.pre_quant.val_bpb == direct.val_bpb != report.roundtrip.val_bpb
    assert "pre-quant" in res.output
    missing = CliRunner().invoke(app, ["eval", str(tmp / "model.ptz"), "--checkpoint", str(tmp_path / "nope.safetensors")])
    assert missing.exit_code == 1


def test_a_report_reads_back_as_written_and_a_bad_one_names_its_field(run):
    tmp, *_ = run
    report = evaluate_artifact(tmp / "model.ptz", max_tokens=100)
    data = json.loads(json.dumps(report.to_dict()))
    assert EvalReport.from_dict(data).to_dict() == data
    # a report written before the passes took their metric kinds' names
    legacy = {{"sliding_window": "sliding"}.get(k, k): v for k, v in data.items()}
    assert EvalReport.from_dict(legacy).sliding_window == report.sliding_window
    # and before a pass's score under the reference script's plan took its name
    stored = {("record" if k == "reference" else k): v for k, v in data["sliding_window"].items()}
    assert "record" in stored and EvalReport.from_dict({**data, "sliding_window": stored}).sliding_window == \
        report.sliding_window
    with pytest.raises(ValueError, match=r"^not an evaluation report \(roundtrip\.val_bpb: "):
        EvalReport.from_dict({**data, "roundtrip": {**data["roundtrip"], "val_bpb": "low"}})


def test_prefix_is_said_and_estimated(run):
    tmp, *_ = run
    report = evaluate_artifact(tmp / "model.ptz", max_tokens=100)
    assert report.sliding_window.scored_tokens == 100 and report.prefix_note.startswith("PREFIX ONLY: first 100 of")
    assert report.estimated_full_seconds > 0


def test_cli_writes_json_and_refuses_bad_files(run):
    tmp, *_ = run
    out = tmp / "r.json"
    ok = CliRunner().invoke(app, ["eval", str(tmp / "model.ptz"), "--max-tokens", "200", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "PREFIX ONLY" in ok.output and "under the 16,000,000 cap" in ok.output
    sliding = json.loads(out.read_text())["sliding_window"]
    assert sliding["scored_tokens"] == 200
    # the record's plan on its cut stream (192 targets, three windows of 64): 3 windows at stride 16 end past it
    # and score its last 16 targets again
    assert sliding["reference"]["scored_tokens"] == 192 + 3 * 16 and sliding["reference"]["repeated"] == 3 * 16
    assert f"record scoring  val_loss {sliding['reference']['val_loss']:.8f}" in ok.output
    assert "240 scorings of 192 targets, 48 of them repeats of the tail" in ok.output
    bad = tmp / "bad.ptz"
    bad.write_bytes((tmp / "model.ptz").read_bytes()[:500])
    res = CliRunner().invoke(app, ["eval", str(bad), "--out", str(tmp / "bad.json")])
    assert res.exit_code == 1 and not (tmp / "bad.json").exists()


def test_the_plan_is_sent_first_and_weighs_each_pass_by_the_tokens_it_feeds_the_model(run, monkeypatch):
    import crawler.scoring

    tmp, _, model, _ = run
    fed, events = [], []  # tokens fed to the model in each scoring call, in order

    class Counting(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            fed[-1] += x.numel()
            return self.inner(x)

    def counted(model, *args, **kwargs):
        fed.append(0)
        return score_plans(Counting(model), *args, **kwargs)

    monkeypatch.setattr(crawler.scoring, "score_plans", counted)  # every pass runs through it
    checkpoint = {k: v.detach().clone() for k, v in model.state_dict().items()}
    evaluate_artifact(tmp / "model.ptz", max_tokens=300, checkpoint_state=checkpoint,
                      on_plan=lambda stages: events.append(("plan", stages)),
                      on_progress=lambda stage, scored, total: events.append((stage, total)))
    assert events[0][0] == "plan" and [kind for kind, _ in events[1:]].count("plan") == 0
    plan = dict(events[0][1])
    assert list(plan) == ["roundtrip", "sliding_window", "pre_quant"]
    # one counter per pass, in the plan's order; the sliding pass includes the record's windows past the cut stream
    assert fed == list(plan.values()) and plan["sliding_window"] > 3 * plan["roundtrip"]
