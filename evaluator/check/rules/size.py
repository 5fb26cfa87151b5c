"""Code bytes + compressed model bytes under the cap, per seed and under every accounting of the code."""
from __future__ import annotations

from crawler.contract import SIZE_CAP_BYTES
from crawler.shipped import ENTRY_SCRIPT
from evaluator.check.context import Context, SeedSize, commas, seed_sizes, where_logged
from evaluator.check.findings import Findings, Rule, RuleResult, Status
from evaluator.records.train_log import seed_name

RULE = Rule("size", f"Size <= {SIZE_CAP_BYTES:,} bytes", 20,
            f"FAQ: code bytes + compressed model bytes <= {SIZE_CAP_BYTES:,} (decimal). The verdict uses each log's own total "
            "(the code as the run counted it, a compressed wrapper included, plus the compressed model); the other "
            "accountings are shown and WARN when only they exceed the cap.")


CODE_UNKNOWN = f"code size unknown: {ENTRY_SCRIPT} absent (on disk and in MANIFEST.json); judged on the logged sizes"


def _accounting_line(label: str, code_bytes: int, sizes: list[SeedSize]) -> tuple[str, bool] | None:
    totals = [(s.log, code_bytes + s.model) for s in sizes if s.model is not None]
    if not totals:
        return None
    log, total = max(totals, key=lambda pair: pair[1])
    fits = total <= SIZE_CAP_BYTES
    per_seed = " / ".join(commas(t) for _, t in totals)
    return (f"{label}: code {commas(code_bytes)} + model per seed = {per_seed}; worst {seed_name(log)} "
            f"{commas(total)} {'<=' if fits else '>'} {commas(SIZE_CAP_BYTES)}"), fits


def _accountings(ctx: Context, sizes: list[SeedSize], found: Findings) -> list[str]:
    """The shipped files' own sizes as the code bytes: the script, + helpers, + a shipped tokenizer.

    Without the script there is no other accounting: the verdict stands on the logs alone, and the absent file is
    the required-files rule's finding, not a size fault. Returns the accountings that exceed the cap."""
    inventory = ctx.record.code
    script = inventory.script
    if not script:
        found.note(CODE_UNKNOWN)
        return []
    where = "" if script.on_disk else ", left out of this copy: MANIFEST.json size"
    if inventory.wrapper:
        unwrapped = inventory.wrapper.unwrapped_bytes
        label = (f"{script.path} as shipped: lzma+base85 wrapper ({commas(script.bytes)} bytes"
                 + (f", unwraps to {commas(unwrapped)}" if unwrapped else "") + ")")
    else:
        label = f"raw {script.path} ({commas(script.bytes)} bytes{where})"
    accountings = [(label, script.bytes)]
    if inventory.helpers:
        names = ", ".join(f.path for f in inventory.helpers)
        accountings.append((f"{script.path} + helpers ({names})", script.bytes + inventory.helper_bytes))
    if inventory.tokenizer_files:
        names = ", ".join(f.path for f in inventory.tokenizer_files)
        accountings.append((f"all code + shipped tokenizer ({names})",
                            script.bytes + inventory.helper_bytes + inventory.tokenizer_bytes))
    over = []
    for label, code_bytes in accountings:
        if line := _accounting_line(label, code_bytes, sizes):
            text, fits = line
            found.add(Status.PASS if fits else Status.WARN, text)
            over += [] if fits else [label]
    if any(s.log.code_bytes_compressed for s in sizes) and not inventory.wrapper:
        found.note("the logs count a compressed code size: the record fits as logged only if "
                   f"{script.path} ships as that compressed wrapper")
    return over


def check(ctx: Context) -> RuleResult:
    record, found = ctx.record, RULE.findings()
    sizes = seed_sizes(record)
    logged = [s for s in sizes if s.logged_total is not None]
    if not logged:
        claim = record.submission.bytes_total if record.submission else None
        if claim is None:
            return found.result("no size in the logs or submission.json", Status.WARN)
        over = claim.value > SIZE_CAP_BYTES
        found.add(Status.FAIL if over else Status.WARN,
                  f"submission.json {claim.key} = {commas(claim.value)} (claim only, no log size)", record.submission_file)
        return found.result(f"no log reports a size; the claimed {commas(claim.value)} bytes "
                            + ("exceeds the cap" if over else "cannot be verified"))
    unbalanced = False
    for s in logged:
        fits = s.logged_total <= SIZE_CAP_BYTES
        parts = []
        if s.logged_code:
            parts.append(f"code {commas(s.logged_code.bytes)} ({s.logged_code.label}, line {s.logged_code.line})")
        if s.model is not None:
            model_line = s.log.model_bytes
            parts.append(f"model {commas(s.model)}" + (f" ({model_line.label}, line {model_line.line})" if model_line else " (derived)"))
        total_line = s.log.total_bytes
        found.add(Status.PASS if fits else Status.FAIL,
                  f"{seed_name(s.log)}: as logged {commas(s.logged_total)}" + (f" = {' + '.join(parts)}" if parts else "")
                  + f"; {'headroom' if fits else 'over by'} {commas(abs(SIZE_CAP_BYTES - s.logged_total))}",
                  *where_logged(s.log, total_line or s.logged_code))
        if total_line and s.logged_code and s.model is not None and s.logged_code.bytes + s.model != total_line.bytes:
            unbalanced = True
            found.add(Status.WARN, f"{seed_name(s.log)}: logged total {commas(total_line.bytes)} is not code + model "
                                   f"({commas(s.logged_code.bytes + s.model)})", *where_logged(s.log, total_line))
    worst_seed = max(logged, key=lambda s: s.logged_total)
    found.note(f"worst seed: {seed_name(worst_seed.log)} at {commas(worst_seed.logged_total)} bytes",
               *where_logged(worst_seed.log, worst_seed.log.total_bytes))
    over = _accountings(ctx, sizes, found)
    as_logged = f"worst seed {commas(worst_seed.logged_total)} bytes as logged"
    faults = ([f"over the cap counting {' and '.join(over)}"] if over else []) + (
        ["a logged total is not code + model"] if unbalanced else [])
    return found.result({Status.PASS: as_logged + (f"; code size unknown: {ENTRY_SCRIPT} absent"
                                                   if not record.code.script else ", every accounting fits"),
                         Status.WARN: f"{as_logged} fits; " + "; ".join(faults),
                         Status.FAIL: f"worst seed {commas(worst_seed.logged_total)} bytes as logged exceeds {commas(SIZE_CAP_BYTES)}"})
