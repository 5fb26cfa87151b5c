"""The training loop within 600 s on 8 GPUs."""
from __future__ import annotations

from typing import Callable

from crawler.contract import TRAIN_CAP_SECONDS
from evaluator.check.context import Context
from evaluator.check.findings import Findings, Rule, RuleResult, Status
from evaluator.records.forensics import log_facts
from evaluator.records.record import Record
from evaluator.records.train_log import TrainLog, seed_name

# a wallclock_cap stop ends after the step in flight; end-of-loop overshoots under this are accepted
WALLCLOCK_GRACE_S = 1.0
EXPECTED_WORLD_SIZE = 8

RULE = Rule("train_time", "Training time <= 600 s", 40,
            "Training loop <= 600 s: the train_time at `stopping_early` (else the last step line). The step in flight "
            f"when the cap fires may end past 600 s; after a wallclock_cap stop an overshoot under {WALLCLOCK_GRACE_S:g} s "
            "is accepted. A run on fewer than 8 GPUs is shown with its 8-GPU equivalent (time x N/8) and WARNs. A run "
            "that ends at ITERATIONS without a wallclock stop, or with the cap disabled or raised, is flagged; one that "
            "ends so past 600 s FAILs as a forced stop (openai/parameter-golf #1956: 601,153 ms). Quantisation "
            "calibration after the loop that reads training data is training (#1868, #1950): loop + calibration must "
            "fit, else FAIL; calibration on generated data is not counted, and one whose data the log does not name "
            "WARNs when counting it would break the cap. The phases after the loop (calibration, serialisation) are "
            "listed with their lines, and so are the steps a reproducer on the same hardware would reach at 600 s "
            "(600 s / the run's mean step time). Non-record tracks are exempt (over-cap WARNs).")


def cap_status(record: Record, over: bool) -> Status:
    if not over:
        return Status.PASS
    return Status.FAIL if record.is_timed_track else Status.WARN


def timed_check(ctx: Context, rule: Rule, what: str, per_run: Callable[[Record, TrainLog, Findings], float | None]
                ) -> RuleResult:
    """A time cap over every submitted run: per_run reports on one run and returns its time in seconds (None when
    the log has none); the summary names the longest."""
    record, found = ctx.record, rule.findings()
    if not record.logs:
        return found.result("no train log", Status.WARN)
    times = [seconds for log in record.logs if (seconds := per_run(record, log, found)) is not None]
    return found.result(f"longest {what} {max(times, default=0.0):.1f} s"
                        + ("" if record.is_timed_track else " (non-record track: cap not required)"))


def _run(record: Record, log: TrainLog, found: Findings) -> float | None:
    name, time = seed_name(log), log.train_time_ms
    if time is None:
        found.add(Status.WARN, f"{name}: no training time in the log", log.file_name)
        return None
    seconds = time.value / 1000.0
    stop = log.stop
    capped = stop is not None and "wallclock" in stop.reason
    within = seconds <= TRAIN_CAP_SECONDS or (capped and seconds < TRAIN_CAP_SECONDS + WALLCLOCK_GRACE_S)
    world = int(log.world_size.value) if log.world_size else None
    text = f"{name}: {seconds:.3f} s"
    text += (f" at stopping_early {stop.reason}, step {stop.step}/{stop.total_steps}" if stop
             else f" at the last step line (step {log.final_step})")
    if seconds > TRAIN_CAP_SECONDS and within:
        text += f"; overshoot {seconds - TRAIN_CAP_SECONDS:.3f} s by the step in flight"
    if world is not None and world != EXPECTED_WORLD_SIZE:
        equivalent = seconds * world / EXPECTED_WORLD_SIZE
        text += f"; world_size {world}: 8-GPU equivalent {equivalent:.1f} s"
        status = Status.WARN if equivalent < TRAIN_CAP_SECONDS + WALLCLOCK_GRACE_S else cap_status(record, True)
    else:
        status = cap_status(record, not within)
    found.add(status, text, log.file_name, time.line)
    if log.gptq_reserve_ms:
        found.note(f"{name}: reserves {log.gptq_reserve_ms.value / 1000.0:.1f} s of the budget for GPTQ",
                   log.file_name, log.gptq_reserve_ms.line)
    wallclock = log.max_wallclock_seconds
    if wallclock and (wallclock.value <= 0 or wallclock.value > TRAIN_CAP_SECONDS):
        found.add(Status.WARN, f"{name}: max_wallclock_seconds={wallclock.value:g}: the 600 s cap is disabled or raised",
                  log.file_name, wallclock.line)
    final = log.final_step
    if stop is None and final is not None and log.iterations and final >= log.iterations.value:
        # on fewer GPUs the cap applies to the 8-GPU equivalent, which the line above already judged
        eight_gpu = seconds * (world or EXPECTED_WORLD_SIZE) / EXPECTED_WORLD_SIZE
        forced_over = eight_gpu > TRAIN_CAP_SECONDS
        found.add(cap_status(record, True) if forced_over else Status.WARN,
                  f"{name}: ran all {int(log.iterations.value)} ITERATIONS with no wallclock stop: a forced step count"
                  + (f" that ends {eight_gpu - TRAIN_CAP_SECONDS:.3f} s past the cap "
                     "(#1956: a forced stop at 601,153 ms)" if forced_over else ""), log.file_name, log.iterations.line)
    _after_loop(record, log, found, seconds, within and not (world and world != EXPECTED_WORLD_SIZE))
    if final:
        step_ms = time.value / final
        found.note(f"{name}: mean step {step_ms:.2f} ms over {final:,} steps: a reproducer on the same hardware "
                   f"reaches step {int(TRAIN_CAP_SECONDS * 1000.0 // step_ms):,} at {TRAIN_CAP_SECONDS:g} s",
                   log.file_name, time.line)
    return seconds


def _after_loop(record: Record, log: TrainLog, found: Findings, loop_s: float, loop_fits: bool) -> None:
    """The phases between the loop's end and the scored evaluation; calibration on training data is training."""
    name, facts = seed_name(log), log_facts(log)
    for phase in facts.phases:
        if phase.kind != "precomputation":
            found.note(f"{name}: {phase.kind} {phase.seconds:.1f} s after the loop ('{phase.text[:100]}')",
                       log.file_name, phase.line)
    calibration = sum(phase.seconds for phase in facts.phases if phase.kind == "calibration")
    if not calibration or not loop_fits:
        return
    source = facts.calibration_source
    kind = str(source.value) if source else "unstated"
    where = (log.file_name, source.line if source else None)
    total = loop_s + calibration
    if kind == "generated":
        found.note(f"{name}: calibration on generated data ({calibration:.1f} s) is not training", *where)
    elif total <= TRAIN_CAP_SECONDS + (WALLCLOCK_GRACE_S if log.stop and "wallclock" in log.stop.reason else 0.0):
        found.add(Status.PASS, f"{name}: loop {loop_s:.1f} s + calibration {calibration:.1f} s = {total:.1f} s "
                               f"within the cap ({kind})", *where)
    elif kind == "training data":
        found.add(cap_status(record, True), f"{name}: loop {loop_s:.1f} s + calibration on training data "
                                            f"{calibration:.1f} s = {total:.1f} s: past the cap (#1868, #1950)", *where)
    else:
        found.add(Status.WARN, f"{name}: loop {loop_s:.1f} s + calibration {calibration:.1f} s = {total:.1f} s past the "
                               "cap if its data is training data: the log does not say which data it reads", *where)


def check(ctx: Context) -> RuleResult:
    return timed_check(ctx, RULE, "training loop", _run)
