"""The byte counts submission.json states, against the logs and the shipped files."""
from __future__ import annotations

from evaluator.check.context import Context, SeedSize, commas, seed_sizes, where_logged
from evaluator.check.findings import Findings, Rule, RuleResult, Status

RULE = Rule("size_claims", "Size claims", 30,
            "submission.json byte counts against the logs (exact) and against the files: bytes_total should be the "
            "worst seed's logged total, bytes_code the code size the logs count and the shipped script's size.")


def _total(ctx: Context, sizes: list[SeedSize], found: Findings) -> None:
    sub, where = ctx.record.submission, ctx.record.submission_file
    claim = sub.bytes_total
    totals = {s.log.seed: s.logged_total for s in sizes if s.logged_total is not None}
    worst_total = max(totals.values(), default=None)
    if worst_total is None:
        found.add(Status.WARN, f"{claim.key} = {commas(claim.value)}: no logged total to compare", where)
    elif claim.value == worst_total:
        found.add(Status.PASS, f"{claim.key} = {commas(claim.value)} equals the worst seed's logged total", where)
    else:
        mean = sum(totals.values()) / len(totals)
        matched = [seed for seed, t in totals.items() if t == claim.value]
        if matched or abs(claim.value - mean) <= 1:
            what = f"seed {matched[0]}'s total" if matched else "the mean over seeds"
            found.add(Status.WARN, f"{claim.key} = {commas(claim.value)} is {what}, not the worst seed ({commas(worst_total)})", where)
        else:
            found.add(Status.FAIL, f"{claim.key} = {commas(claim.value)} matches no logged total "
                                   f"({', '.join(commas(t) for t in totals.values())})", where)


def _per_seed(ctx: Context, sizes: list[SeedSize], found: Findings) -> None:
    record = ctx.record
    for seed, claim in record.submission.seed_claims.items():
        if claim.bytes_total is None:
            continue
        log = record.log_for_seed(seed)
        size = next((s for s in sizes if s.log is log), None)
        shown = f"{claim.bytes_total.key} = {commas(claim.bytes_total.value)}"
        if size is None or size.logged_total is None:
            found.add(Status.WARN, f"{shown}: no log size for seed {seed}", record.submission_file)
        elif claim.bytes_total.value == size.logged_total:
            found.add(Status.PASS, f"{shown} matches", *where_logged(log, log.total_bytes))
        elif claim.bytes_total.value == size.model:
            found.add(Status.WARN, f"{shown} is the model alone; with code the seed totals {commas(size.logged_total)}",
                      *where_logged(log, log.model_bytes))
        else:
            found.add(Status.FAIL, f"{shown} but the log says {commas(size.logged_total)}", *where_logged(log, log.total_bytes))


def _code(ctx: Context, sizes: list[SeedSize], found: Findings) -> None:
    record, sub = ctx.record, ctx.record.submission
    logged_codes = {c.bytes for log in record.logs
                    for c in (log.code_bytes, log.code_bytes_compressed, log.launcher_code_bytes) if c}
    script = record.code.script
    # what the folder ships as code: the script alone, or with its helpers (multi-file code)
    shipped: dict[str, int] = {}
    if script:
        shipped = {f"{script.path} {'on disk' if script.on_disk else 'per MANIFEST.json'}": script.bytes}
        if record.code.helpers:
            shipped[f"{script.path} + helpers"] = script.bytes + record.code.helper_bytes
    if sub.bytes_code is not None:
        claim = sub.bytes_code
        shown = f"{claim.key} = {commas(claim.value)}"
        if not logged_codes:
            found.add(Status.WARN, f"{shown}: no code size in the logs", record.submission_file)
        elif claim.value in logged_codes:
            found.add(Status.PASS, f"{shown} matches the logged code size", record.submission_file)
        else:
            found.add(Status.FAIL, f"{shown} but the logs say {', '.join(map(commas, sorted(logged_codes)))}",
                      record.submission_file)
        if script:
            equal = claim.value in shipped.values()
            found.add(Status.PASS if equal else Status.WARN, f"{shown} {'equals' if equal else 'differs from'} "
                      + " / ".join(f"{label} ({commas(size)})" for label, size in shipped.items()), script.path)
    if sub.bytes_model is not None:
        models = {s.model for s in sizes if s.model is not None}
        ok = sub.bytes_model.value in models
        text = ("matches a logged model size" if ok else
                f"matches no logged model size ({', '.join(map(commas, sorted(models)))})" if models else "no model size in the logs")
        found.add(Status.PASS if ok else Status.FAIL if models else Status.WARN,
                  f"{sub.bytes_model.key} = {commas(sub.bytes_model.value)}: {text}", record.submission_file)
    if script and logged_codes and record.code.wrapper is None:
        plain = {log.code_bytes.bytes for log in record.logs if log.code_bytes}
        if plain and not plain.intersection(shipped.values()):
            found.add(Status.WARN, " / ".join(f"{label} is {commas(size)} bytes" for label, size in shipped.items())
                      + f" but the logs ran {', '.join(map(commas, sorted(plain)))} bytes of code", script.path)


def check(ctx: Context) -> RuleResult:
    sub = ctx.record.submission
    if sub is None:
        return RULE.skip("no submission.json")
    found, sizes = RULE.findings(), seed_sizes(ctx.record)
    if sub.bytes_total is not None:
        _total(ctx, sizes, found)
    _per_seed(ctx, sizes, found)
    _code(ctx, sizes, found)
    if not found.statuses:
        return found.result("submission.json states no byte counts", Status.WARN)
    return found.result({Status.PASS: "byte counts agree with logs and files",
                         Status.WARN: "byte counts agree with the logs but not in every reading",
                         Status.FAIL: "a byte count contradicts the logs"})
