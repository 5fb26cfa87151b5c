"""With --artifact: the .ptz re-evaluated against the logged BPB and bytes."""
from __future__ import annotations

from crawler.contract import SIZE_CAP_BYTES, MetricKind
from evaluator.check.context import Context, commas, mean, where_logged
from evaluator.check.findings import Rule, RuleResult, Status
from evaluator.records.train_log import seed_name

ARTIFACT_BPB_PASS = 1e-4
ARTIFACT_BPB_WARN = 1e-3

RULE = Rule("artifact", "Artifact re-evaluation", 100,
            f"The artifact is re-evaluated (evaluator.artifacts.eval_report). Its file size must equal a seed's logged compressed "
            f"model size (that seed is the reference) and code + model must stay <= {commas(SIZE_CAP_BYTES)}. On the full "
            f"validation split the recomputed BPB must be within {ARTIFACT_BPB_PASS:g} of the logged one (different GPU "
            f"counts and kernels reorder float sums); within {ARTIFACT_BPB_WARN:g} WARNs. A prefix-only evaluation (the "
            "CPU default) is shown but cannot confirm the claim (WARN).")


def check(ctx: Context) -> RuleResult:
    report, record = ctx.artifact, ctx.record
    if report is None:
        return RULE.skip("no --artifact given")
    found, size = RULE.findings(), report.size
    found.note(f"artifact {report.artifact} sha256 {report.sha256[:12]}: {commas(size.model_bytes)} bytes; {report.prefix_note}",
               report.artifact)
    log = next((log for log in record.logs if log.model_bytes and log.model_bytes.bytes == size.model_bytes), None)
    if log is None:
        found.add(Status.WARN, "its size matches no seed's logged model size: compared with the record's means")
    else:
        found.add(Status.PASS, f"its size equals {seed_name(log)}'s logged model size", *where_logged(log, log.model_bytes))
    if size.total_bytes is not None:
        fits = size.total_bytes <= SIZE_CAP_BYTES
        found.add(Status.PASS if fits else Status.FAIL, f"code {commas(size.code_bytes)} ({size.code_source}) + model "
                  f"{commas(size.model_bytes)} = {commas(size.total_bytes)} {'<=' if fits else '>'} {commas(SIZE_CAP_BYTES)}")
        if log and log.total_bytes and log.total_bytes.bytes != size.total_bytes:
            found.add(Status.WARN, f"the log's total is {commas(log.total_bytes.bytes)}", *where_logged(log, log.total_bytes))
    full = report.max_tokens >= report.sliding_window.available_tokens
    for kind, result in ((MetricKind.ROUNDTRIP, report.roundtrip), (MetricKind.SLIDING_WINDOW, report.sliding_window)):
        recomputed = result.val_bpb
        if log is not None:
            metric = log.final(kind)
            logged, where = (metric.val_bpb, log.where(metric)) if metric else (None, (None, None))
        else:
            logged, where = mean([m.val_bpb for lg in record.logs if (m := lg.final(kind))]), (None, None)
        if logged is None:
            found.add(Status.WARN, f"{kind}: recomputed {recomputed:.8f}; no logged {kind} BPB to compare")
            continue
        delta = recomputed - logged
        if not full:
            status, verdict = Status.WARN, "prefix only: not comparable with the full-split number"
        elif abs(delta) <= ARTIFACT_BPB_PASS:
            status, verdict = Status.PASS, "reproduces"
        else:
            status, verdict = Status.WARN if abs(delta) <= ARTIFACT_BPB_WARN else Status.FAIL, "differs"
        found.add(status, f"{kind}: recomputed {recomputed:.8f} vs logged {logged:.8f} (delta {delta:+.8f}): {verdict}",
                  *where)
    return found.result({Status.PASS: "the artifact reproduces the logged BPB and size",
                         Status.WARN: "the artifact could not confirm every logged number",
                         Status.FAIL: "the artifact contradicts the logged BPB or breaks the size cap"})
