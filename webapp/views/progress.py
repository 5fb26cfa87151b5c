"""A job's overall progress and the time left to its result, over every stage the user waits for.

The worker stores the attempt's plan as [stage, weight, started] entries: the weight is the tokens the stage feeds
the model (the loop-wise analysis included, weighed by job_child as so many passes over its slice), started the
Unix time the stage began (None until then). The work done is the finished stages' weights plus the current one's
share, scored/to_score as of the last heartbeat; a stage that reports no share of its own (the loop-wise analysis)
is credited with the time it has run at the rate measured so far, up to UNREPORTED_SHARE_CAP.

The rate is measured since scoring began (the first stage's start), not since the job started: loading the artifact
does no planned work, and counting it made the first estimates jump. Passes differ in speed per token, so the rate
moves from the average over all the scoring so far to the current stage's own as that stage gets under way (over
its first RAMP_SHARE of work): the estimate follows the pass that is left without a step when a stage begins. A
stage without reports goes at the rate of the stage before it. Between heartbeats the estimate counts down with
the clock.
A plan of the older [stage, tokens] form has no start times: the rate is then taken since the job started, and a
stage of no weight is left out of the figure (named in `outside`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from webapp.schemas import OverallProgressOut
from webapp.tables import Evaluation, JobState

# below this share of the work the rate seen is mostly the first batches' warm-up: no estimate yet
MIN_ETA_FRACTION = 0.02
# a stage without progress reports is never credited as finished before it says so
UNREPORTED_SHARE_CAP = 0.97
# the share of a stage over which the rate moves from the average so far to the stage's own
RAMP_SHARE = 0.05


@dataclass(frozen=True)
class PlannedStage:
    name: str
    weight: int | None  # None: outside the figure (an older plan's loop-wise analysis)
    started: float | None  # Unix time


def planned_stages(plan: list | None) -> list[PlannedStage]:
    return [PlannedStage(entry[0], entry[1], entry[2] if len(entry) > 2 else None) for entry in plan or []]


def _epoch(moment: datetime) -> float:
    """The database keeps naive UTC datetimes."""
    return moment.replace(tzinfo=timezone.utc).timestamp() if moment.tzinfo is None else moment.timestamp()


def _rate(work: float, seconds: float, share: float, current: PlannedStage, measured_at: float) -> float | None:
    """Work per second: the average since scoring began, moving to the current stage's own over its first
    RAMP_SHARE (blended as seconds per unit of work, so that the estimate of the time left is blended linearly)."""
    if seconds <= 0 or work <= 0:
        return None
    per_work = seconds / work
    stage_seconds = measured_at - current.started if current.started else 0.0
    if share > 0 and stage_seconds > 0:
        mix = min(share / RAMP_SHARE, 1.0)
        per_work = mix * stage_seconds / (share * current.weight) + (1 - mix) * per_work
    return 1 / per_work


def overall_progress(job: Evaluation, now: datetime) -> OverallProgressOut | None:
    """The job's progress over every stage of its plan, and the seconds left at the rate measured since scoring began."""
    if job.state in (JobState.QUEUED, JobState.FAILED) or job.started_at is None:
        return None
    stages = planned_stages(job.plan)
    outside = [stage.name for stage in stages if stage.weight is None]
    if job.state == JobState.DONE:
        return OverallProgressOut(fraction=1.0, elapsed_seconds=((job.finished_at or now) - job.started_at)
                                  .total_seconds(), eta_seconds=0.0, outside=outside)
    elapsed = max((now - job.started_at).total_seconds(), 0.0)
    weighed = [stage for stage in stages if stage.weight is not None]
    names, total = [stage.name for stage in weighed], sum(stage.weight for stage in weighed)
    if job.stage == "loading":  # before any pass, plan or none
        return OverallProgressOut(fraction=0.0, elapsed_seconds=elapsed, eta_seconds=None, outside=outside)
    if job.stage in outside and total:  # an older plan: the loop-wise analysis ran after the whole figure
        return OverallProgressOut(fraction=1.0, elapsed_seconds=elapsed, eta_seconds=None, outside=outside)
    if job.stage not in names or not total:
        return OverallProgressOut(fraction=None, elapsed_seconds=elapsed, eta_seconds=None, outside=outside)

    at = names.index(job.stage)
    current, before = weighed[at], sum(stage.weight for stage in weighed[:at])
    scoring_began = weighed[0].started or _epoch(job.started_at)
    clock = _epoch(now)
    if job.to_score:  # a reporting stage: its share and the rate as of the heartbeat that stored them
        measured_at = _epoch(job.heartbeat_at) if job.heartbeat_at else clock
        share = min(job.scored / job.to_score, 1.0)
        work = before + share * current.weight
        rate = _rate(work, measured_at - scoring_began, share, current, measured_at)
    else:  # a stage without reports: the rate of the stage before it, and the time it has run
        measured_at = clock
        ended = current.started or measured_at
        previous = weighed[at - 1] if at else None
        rate = None
        if previous and previous.started and ended > previous.started:
            rate = previous.weight / (ended - previous.started)
        ran = max(clock - ended, 0.0)
        work = before + (min(ran * rate / current.weight, UNREPORTED_SHARE_CAP) * current.weight if rate else 0.0)
    fraction = work / total
    eta = None
    if rate and fraction >= MIN_ETA_FRACTION:
        eta = max(measured_at + (total - work) / rate - clock, 0.0)
    return OverallProgressOut(fraction=fraction, elapsed_seconds=elapsed, eta_seconds=eta, outside=outside)
