"""The files a submission must hold."""
from __future__ import annotations

from crawler.shipped import ENTRY_SCRIPT
from evaluator.check.context import Context, commas
from evaluator.check.findings import Findings, Rule, RuleResult, Status
from evaluator.records.record import README_NAME, SUBMISSION_NAME

RULE = Rule("files", "Required files", 10,
            "README 'Submission Process': README.md, submission.json, a train log produced by the script, and "
            "train_gpt.py (plus its dependencies). Files MANIFEST.json lists as left out of this copy count as "
            "present but unverifiable (WARN). A symlink or any other non-regular file fails: it is not read, and "
            "what it points at is not shipped.")


def _need(found: Findings, ctx: Context, name: str, present: bool, alternatives: list[str] | None = None) -> None:
    record, left_out = ctx.record, ctx.record.left_out
    if present:
        found.add(Status.PASS, f"{name}: present", name)
    elif name in left_out or any(a in left_out for a in alternatives or []):
        shown = name if name in left_out else next(a for a in alternatives or [] if a in left_out)
        found.add(Status.WARN, f"{name}: left out of this copy ({shown}, {commas(left_out[shown])} bytes per MANIFEST.json)",
                  record.manifest.manifest if record.manifest else None)
    else:
        found.add(Status.FAIL, f"{name}: missing")


def check(ctx: Context) -> RuleResult:
    record, found = ctx.record, RULE.findings()
    left_out = record.left_out
    _need(found, ctx, README_NAME, record.readme_file is not None)
    if record.submission_file and record.submission_file != SUBMISSION_NAME:
        found.add(Status.WARN, f"{SUBMISSION_NAME}: missing; found {record.submission_file} instead", record.submission_file)
    else:
        _need(found, ctx, SUBMISSION_NAME, record.submission_file is not None,
              [name for name in left_out if name.startswith("submission") and name.endswith(".json")])
    if record.submission_error:
        found.add(Status.FAIL, f"submission unreadable: {record.submission_error}", record.submission_file)
    if record.logs:
        found.add(Status.PASS, f"train logs: {', '.join(log.file_name for log in record.logs)}")
    else:
        logs_left_out = [n for n in left_out if n.endswith((".log", ".txt")) and "requirements" not in n]
        found.add(Status.WARN if logs_left_out else Status.FAIL, "train log: none with training lines"
                  + (f"; left out of this copy: {', '.join(logs_left_out)}" if logs_left_out else ""))
    if record.ignored_logs:
        found.note(f"log-like files without training lines: {', '.join(record.ignored_logs)}")
    for name, why in record.refused.items():
        found.add(Status.FAIL, f"{name}: {why}; a record ships regular files only", name)
    script = record.code.script
    if script and script.path == ENTRY_SCRIPT:
        _need(found, ctx, ENTRY_SCRIPT, script.on_disk)
    else:
        other = f"; the script is {script.path}" + ("" if script.on_disk else " (left out of this copy)") if script else ""
        found.add(Status.FAIL, f"{ENTRY_SCRIPT}: missing{other}")
    return found.result({Status.PASS: "README.md, submission.json, train log(s) and train_gpt.py present",
                         Status.WARN: "required files present or left out of this copy only",
                         Status.FAIL: "required file(s) missing or refused"})
