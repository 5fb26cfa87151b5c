"""Enough seeds to show an improvement."""
from __future__ import annotations

from evaluator.check.context import Context
from evaluator.check.findings import Findings, Rule, RuleResult, Status
from evaluator.records.logs import seed_in_file_name
from evaluator.records.record import Record
from evaluator.records.train_log import seed_name

MIN_SEEDS = 3

RULE = Rule("seeds", f"At least {MIN_SEEDS} seeds", 60,
            "README: enough run logs to show the improvement at p < 0.01; in practice three seeds. Counted over the "
            "submitted runs: runs of another configuration (a study) or a second run of one seed (a rerun) are set "
            "aside and listed; a choice between runs that submission.json's claims do not decide WARNs with the other "
            "reading; seeds claimed without a log WARN, and so do logs named for more seeds than their lines print.")


def _names_against_prints(record: Record, found: Findings) -> None:
    """Logs named for several seeds whose lines print fewer: one seed run several times, or the seed not passed on."""
    printed = {log.file_name: log.seed for log in record.logs if log.seed is not None and log.seed_evidence
               and not log.seed_evidence.startswith("file name")}
    printed |= {aside.run: aside.seed for aside in record.set_aside if aside.seed is not None and " lines " not in aside.run}
    named = {name: seed for name in printed if (seed := seed_in_file_name(name)) is not None}
    if len(set(named.values())) >= 2 and len({printed[name] for name in named}) < len(set(named.values())):
        found.add(Status.WARN, f"logs named for seeds {sorted(set(named.values()))} ({', '.join(sorted(named))}) print "
                               f"seed(s) {sorted({printed[name] for name in named})}: the runs are not the seeds their "
                               "names say")


def check(ctx: Context) -> RuleResult:
    record, found = ctx.record, RULE.findings()
    seeds = sorted({log.seed for log in record.logs if log.seed is not None})
    claimed = record.submission.seeds if record.submission else []
    for log in record.logs:
        found.note(f"{seed_name(log)}: {log.file_name}" + (f" (seed from {log.seed_evidence})" if log.seed_evidence else ""),
                   log.file_name)
    for join in record.joined:
        found.note(join.describe(), join.evaluation.split(" lines ")[0])
    for aside in record.set_aside:
        found.note(f"not counted: {aside.run}: {aside.reason}", aside.run.split(" lines ")[0])
    for text in record.ambiguities:
        found.add(Status.WARN, f"ambiguous: {text}")
    _names_against_prints(record, found)
    missing = [s for s in claimed if s not in seeds]
    if missing:
        found.add(Status.WARN, f"seeds claimed in submission.json without a log: {missing}", record.submission_file)
    found.add(Status.PASS if len(seeds) >= MIN_SEEDS else Status.WARN, f"{len(seeds)} distinct seed(s) in the submitted runs")
    return found.result(f"{len(seeds)} distinct seed(s) with logs: {seeds}"
                        + (f"; {len(record.set_aside)} other run(s) not counted" if record.set_aside else ""))
