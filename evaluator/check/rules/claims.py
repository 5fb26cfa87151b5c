"""Every number submission.json claims, against the logs."""
from __future__ import annotations

from crawler.contract import MetricKind
from evaluator.check.context import Context, mean
from evaluator.check.findings import Findings, Rule, RuleResult, Status
from evaluator.records.headline import headline_metric, submitted_run
from evaluator.records.metric_kinds import CANDIDATE_KINDS
from evaluator.records.printed import printed_claim
from evaluator.records.record import Record
from evaluator.records.stats import population_std, summarize
from evaluator.records.submission import Claim
from evaluator.records.train_log import TrainLog, run_name

# a claim this precise that is one unit off in its last decimal is a rounding artefact; at fewer decimals a unit
# (0.001 BPB and up) is more than rounding can explain
ROUNDING_LEEWAY_DECIMALS = 4

RULE = Rule("claims", "Claims vs evidence", 80,
            "Every number in submission.json against the logs. A claim matches a log value that rounds to it: "
            "tolerance is half a unit in the claim's last decimal (1.1874 -> ±5e-5, 1.18742567 -> ±5e-9), so step "
            "counts and other integers must be equal; a claim of 4 or more decimals off by at most one unit in its "
            "last decimal (a mean of already rounded values) WARNs. Top-level values are compared with the mean over the logs of "
            "the headline kind; a val_bpb that is one run's score and not the mean is read as the submitted run (the "
            "headline) and WARNs with the mean beside it; matching the population std or another metric kind WARNs, "
            "and so does a std that does not reproduce (a derived statistic). A headline read from a free-form line "
            "(`Final BPB: 1.1070`) WARNs with its line. A val_bpb claim the headline does not reproduce is looked up "
            "in every .log and .txt of the folder: each line printing it is shown with why it is not the headline "
            "(one seed's value, another metric kind, a periodic validation, a run set aside). Byte counts are checked under "
            "'Size claims'.")


def one_unit_off(claim: Claim, value: float) -> bool:
    """A claim of ROUNDING_LEEWAY_DECIMALS or more decimals at most one unit off in its last one (a rounding)."""
    return claim.decimals >= ROUNDING_LEEWAY_DECIMALS and abs(claim.value - value) <= 2 * claim.tolerance


def _claim_text(claim: Claim) -> str:
    return f"{claim.value:.{claim.decimals}f}"


def _value_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.8f}"


class _ClaimChecker:
    def __init__(self, ctx: Context, found: Findings):
        self.record, self.found = ctx.record, found

    def compare(self, claim: Claim, value: float | None, what: str, where: tuple[str | None, int | None],
                alternatives: dict[str, float | None] | None = None, derived: bool = False) -> None:
        """derived: a statistic the submitter computed (a std); a mismatch WARNs instead of failing."""
        shown = f"{claim.key} = {_claim_text(claim)}"
        if value is None:
            self.found.add(Status.WARN, f"{shown}: the logs show no {what}", self.record.submission_file)
        elif claim.matches(value):
            self.found.add(Status.PASS, f"{shown} matches {what} {_value_text(value)} (tolerance {claim.tolerance:.1g})",
                           *where)
        elif one_unit_off(claim, value):
            self.found.add(Status.WARN, f"{shown} is {what} {_value_text(value)} to within one unit of its last "
                                        "decimal (a mean of rounded values, or rounded twice)", *where)
        else:
            other = next((name for name, v in (alternatives or {}).items() if claim.matches(v)), None)
            self.found.add(Status.WARN if other or derived else Status.FAIL,
                           f"{shown} but {what} is {_value_text(value)}" + (f"; it matches {other} instead" if other else ""),
                           *where)


def _kind_values(log: TrainLog) -> dict[str, float | None]:
    return {f"the {k} BPB": (m.val_bpb if (m := log.final(k)) else None) for k in CANDIDATE_KINDS}


def _pre_quant(log: TrainLog) -> float | None:
    """The explicit pre-quant line, else the training loop's last validation (taken before quantisation)."""
    if metric := log.final(MetricKind.PRE_QUANT):
        return metric.val_bpb
    return log.val_curve[-1].val_bpb if log.val_curve else None


def _top_level(checker: _ClaimChecker, ctx: Context) -> None:
    record = ctx.record
    sub, kind, logs = record.submission, record.headline_kind, record.logs
    # the mean is over one metric kind: a log without a line of the headline's kind is not in it
    metrics = [(log, m) for log in logs if (m := log.final(kind) if kind else headline_metric(log, kind))]
    first = metrics[0][0].where(metrics[0][1]) if metrics else (None, None)
    bpbs = [m.val_bpb for _, m in metrics]
    losses = [m.val_loss for _, m in metrics if m.val_loss is not None]
    n = f"{len(metrics)} log(s)"
    top = [(name, claim) for name, claim in sub.numbers.items()] + sub.alias_claims
    submitted = submitted_run(logs, kind, sub)
    for claim in (claim for name, claim in top if name == "val_bpb"):
        if submitted and claim is sub.numbers.get("val_bpb"):
            log, metric = submitted
            checker.found.add(Status.WARN, f"val_bpb = {_claim_text(claim)} is {run_name(log)}'s {kind} BPB "
                                           f"{_value_text(metric.val_bpb)}, read as the submitted run; the other "
                                           f"reading, the mean over {n}, is {_value_text(mean(bpbs))}",
                             *log.where(metric))
            continue
        checker.compare(claim, mean(bpbs), f"the mean {kind} BPB over {n}", first,
                        {f"{run_name(log)}'s value": m.val_bpb for log, m in metrics})
        if not claim.matches(mean(bpbs)):
            _where_printed(checker, record, claim)
    for log, metric in metrics:
        if metric.loose:
            checker.found.add(Status.WARN, f"{run_name(log)}: the {kind} BPB {metric.val_bpb} was read loosely "
                                           f"(no val_bpb line): {metric.reason}", *log.where(metric))
    for claim in (claim for name, claim in top if name == "val_loss"):
        checker.compare(claim, mean(losses) if len(losses) == len(metrics) else None,
                        f"the mean {kind} val_loss over {n}", first,
                        {f"{run_name(log)}'s value": m.val_loss for log, m in metrics})
    for name, values in (("val_bpb_std", bpbs), ("val_loss_std", losses)):
        if (claim := sub.numbers.get(name)) is not None:
            checker.compare(claim, summarize(values).std, f"the sample std over {n}", (None, None),
                            {"the population std": population_std(values)}, derived=True)
    if (claim := sub.numbers.get("pre_quant_val_bpb")) is not None:
        values = {run_name(log): v for log in logs if (v := _pre_quant(log)) is not None}
        checker.compare(claim, mean(list(values.values())), "the mean pre-quant BPB", first,
                        {f"{name}'s pre-quant value": v for name, v in values.items()})
    if (claim := sub.numbers.get("train_steps")) is not None:
        checker.compare(claim, mean([s for log in logs if (s := log.final_step) is not None]),
                        "the final step (mean over logs)", first,
                        {f"{run_name(log)}'s final step": log.final_step for log in logs})
    if (claim := sub.numbers.get("train_time_s")) is not None:
        checker.compare(claim, mean([t.value / 1000.0 for log in logs if (t := log.train_time_ms)]),
                        "the training time in s (mean over logs)", first,
                        {f"{run_name(log)}'s time": t.value / 1000.0 for log in logs if (t := log.train_time_ms)})
    if (claim := sub.numbers.get("model_params")) is not None:
        params = {log.model_params.value for log in logs if log.model_params}
        checker.compare(claim, params.pop() if len(params) == 1 else None, "single model_params value", first)


def _where_printed(checker: _ClaimChecker, record: Record, claim: Claim) -> None:
    """Where the logs print the claimed number, and why that line is not the headline."""
    printed = printed_claim(record, claim)
    for hit in printed:
        checker.found.note(f"{claim.key} = {_claim_text(claim)} is printed here ({hit.text!r}); not taken: "
                           f"{hit.why_not}", hit.file, hit.line)
    if not printed and record.logs:
        checker.found.note(f"{claim.key} = {_claim_text(claim)} is printed in no log of the folder")


def _seed(checker: _ClaimChecker, ctx: Context, seed: int, numbers: dict[str, Claim]) -> None:
    record = ctx.record
    log = record.log_for_seed(seed)
    if log is None:
        checker.found.add(Status.WARN, f"seed {seed}: claimed results but no log", record.submission_file)
        return
    kind = record.headline_kind
    metric = headline_metric(log, kind)
    where = log.where(metric) if metric else (log.file_name, None)
    if "val_bpb" in numbers:
        checker.compare(numbers["val_bpb"], metric.val_bpb if metric else None, f"the {kind} BPB", where, _kind_values(log))
    if "val_loss" in numbers:
        checker.compare(numbers["val_loss"], metric.val_loss if metric else None, f"the {kind} val_loss", where)
    if "steps" in numbers:
        checker.compare(numbers["steps"], log.final_step, "the final step",
                        (log.file_name, log.stop.line if log.stop else None))
    if "train_time_s" in numbers:
        time = log.train_time_ms
        checker.compare(numbers["train_time_s"], time.value / 1000.0 if time else None, "the training time in s",
                        (log.file_name, time.line if time else None))
    if "eval_time_s" in numbers:
        eval_ms = log.total_eval_time_ms.value if log.total_eval_time_ms else metric.eval_time_ms if metric else None
        checker.compare(numbers["eval_time_s"], eval_ms / 1000.0 if eval_ms is not None else None,
                        "the evaluation time in s", where)


def check(ctx: Context) -> RuleResult:
    record, sub = ctx.record, ctx.record.submission
    if sub is None:
        return RULE.skip("no submission.json")
    found = RULE.findings()
    checker = _ClaimChecker(ctx, found)
    if record.logs:
        _top_level(checker, ctx)
    else:
        claimed = f" (val_bpb = {_claim_text(sub.numbers['val_bpb'])})" if "val_bpb" in sub.numbers else ""
        found.add(Status.WARN, f"no train log: the claimed numbers{claimed} cannot be checked", record.submission_file)
        if "val_bpb" in sub.numbers:
            _where_printed(checker, record, sub.numbers["val_bpb"])
    for seed, seed_claim in sub.seed_claims.items():
        _seed(checker, ctx, seed, seed_claim.numbers)
    unclaimed = [log.seed for log in record.logs if log.seed is not None and sub.seeds and log.seed not in sub.seeds]
    if unclaimed:
        found.add(Status.WARN, f"logs for seeds {unclaimed} that submission.json does not list", record.submission_file)
    if sub.missing:
        found.add(Status.WARN, f"core fields missing from submission.json: {', '.join(sub.missing)}", record.submission_file)
    if not found.statuses:
        return found.result("no checkable numbers in submission.json", Status.WARN)
    return found.result({Status.PASS: "every claimed number matches the logs",
                         Status.WARN: "claims match the logs only in part or under another reading",
                         Status.FAIL: "a claimed number contradicts the logs"})
