"""The code a log embeds is the code the record ships."""
from __future__ import annotations

import hashlib
from pathlib import Path

from crawler.shipped import ENTRY_SCRIPT
from evaluator.check.context import Context, commas
from evaluator.check.findings import Rule, RuleResult, Status
from evaluator.records.embedded_source import normalised_sha256
from evaluator.records.train_log import seed_name
from evaluator.records.untrusted_files import LOG_LIMIT, RecordFileError, read_capped

RULE = Rule("source", "Embedded source = train_gpt.py", 90,
            "When a log embeds the training script, its bytes (the lines before the '=' separator) must hash "
            f"(SHA-256) equal to the shipped {ENTRY_SCRIPT}; equal only after trimming trailing whitespace WARNs.")


def check(ctx: Context) -> RuleResult:
    record = ctx.record
    embedded = [log for log in record.logs if log.source]
    if not embedded:
        return RULE.skip("no log embeds its source")
    found, script = RULE.findings(), record.code.script
    data = None
    if script is not None and script.on_disk:
        try:
            data = read_capped(Path(record.path, script.path), LOG_LIMIT).data
        except RecordFileError as exc:
            found.add(Status.WARN, str(exc), script.path)
    for log in embedded:
        span, name = log.source, seed_name(log)
        if data is None:
            size_note = ""
            if script is not None:
                same = "equals" if span.n_bytes == script.bytes else "differs from"
                size_note = f"; its size {commas(span.n_bytes)} {same} the MANIFEST.json size of {script.path} ({commas(script.bytes)})"
            found.add(Status.WARN, f"{name}: embedded source sha256 {span.sha256[:12]}; {ENTRY_SCRIPT} not in this copy"
                      + size_note, log.file_name, span.first_line)
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == span.sha256:
            found.add(Status.PASS, f"{name}: embedded source (lines {span.first_line}-{span.last_line}) sha256 "
                                   f"{digest[:12]} equals {script.path}", log.file_name, span.first_line)
            continue
        close = span.normalised_sha256 == normalised_sha256(data.decode("utf-8", errors="surrogateescape"))
        found.add(Status.WARN if close else Status.FAIL,
                  f"{name}: embedded source sha256 {span.sha256[:12]} ({commas(span.n_bytes)} bytes) vs {script.path} "
                  f"{digest[:12]} ({commas(len(data))} bytes)" + (": equal after trimming whitespace" if close else ": different code"),
                  log.file_name, span.first_line)
    return found.result({Status.PASS: f"embedded source hashes equal to {ENTRY_SCRIPT}",
                         Status.WARN: "embedded source could not be confirmed byte for byte",
                         Status.FAIL: f"a log ran different code than the shipped {ENTRY_SCRIPT}"})
