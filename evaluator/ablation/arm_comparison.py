"""Arms against a control: per-kind BPB over seeds, the quantisation gap, the delta with its seed
spread and a two-sided Welch p, steps and the worst size. One computation for `pgolf ablate --report`
and the web app's ablation page, whatever the arms came from (ablation runs, records, training runs)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from crawler.contract import MetricKind
from evaluator.records.metric_kinds import KIND_ORDER
from evaluator.records.seeds import SeedRow
from evaluator.records.stats import Summary, summarize, welch_two_sided_p

# what changes from one seed or machine to the next without being a setting
NOT_SETTINGS = {"seed", "run_id", "out_dir", "logfile", "local_rank", "rank", "is_main_process", "warmup_step",
                "running", "cpu_step_ms"}


def config_settings(config: dict) -> dict[str, str]:
    """A run's config as settings to compare across arms of any source: sequences as JSON, as config.json has them."""
    return {k: json.dumps(v) if isinstance(v, (list, tuple, dict)) else str(v) for k, v in config.items()
            if k not in NOT_SETTINGS}


@dataclass
class ArmSeeds:
    """One arm: the settings it ran with and one row per seed."""
    id: str
    label: str
    source: str  # ablation | record | run
    settings: dict[str, str]
    rows: list[SeedRow]
    headline_kind: str | None
    problems: list[str] = field(default_factory=list)

    def values(self, kind: str) -> list[float]:
        return [v for row in self.rows if (v := row.bpb_by_kind.get(kind)) is not None]

    def quant_gaps(self) -> list[float]:
        """Roundtrip minus pre-quant BPB, per seed that has both: what int6 export costs."""
        pairs = [(row.bpb_by_kind.get(MetricKind.ROUNDTRIP), row.bpb_by_kind.get(MetricKind.PRE_QUANT))
                 for row in self.rows]
        return [roundtrip - pre_quant for roundtrip, pre_quant in pairs if roundtrip is not None and pre_quant is not None]


@dataclass
class SettingDiff:
    key: str
    control: str | None
    arm: str | None


@dataclass
class ArmStats:
    id: str
    label: str
    source: str
    seeds: list[int | None]
    steps: float | None  # mean final step over seeds
    bpb: dict[str, Summary]  # per metric kind, over seeds
    quant_gap: Summary | None
    delta: float | None  # mean BPB of the compared kind minus the control's; negative is better
    seed_deltas: list[float]  # each seed's BPB minus the control's mean: the delta's seed spread
    p_value: float | None  # two-sided Welch p that the arm's mean differs from the control's
    worst_total_bytes: int | None
    settings_diff: list[SettingDiff]
    not_comparable: str = ""  # why no delta is given: scored on another corpus than the control


@dataclass
class ArmComparison:
    kind: str | None
    kinds: list[str]
    control: ArmStats
    arms: list[ArmStats]


def _settings_diff(control: ArmSeeds, arm: ArmSeeds) -> list[SettingDiff]:
    keys = sorted(set(control.settings) | set(arm.settings))
    return [SettingDiff(k, control.settings.get(k), arm.settings.get(k))
            for k in keys if control.settings.get(k) != arm.settings.get(k)]


def arm_stats(arm: ArmSeeds, control: ArmSeeds, kind: str | None) -> ArmStats:
    bpb = {k: s for k in KIND_ORDER if (s := summarize(arm.values(k))).n}
    gaps = arm.quant_gaps()
    steps = [row.steps for row in arm.rows if row.steps is not None]
    sizes = [row.total_bytes for row in arm.rows if row.total_bytes is not None]
    delta, seed_deltas, p_value = None, [], None
    mine, theirs = (arm.values(kind), control.values(kind)) if kind else ([], [])
    if mine and theirs:
        base = math.fsum(theirs) / len(theirs)
        seed_deltas = [v - base for v in mine]
        if arm is control:
            delta = 0.0  # by definition, not up to rounding
        else:
            delta = math.fsum(seed_deltas) / len(seed_deltas)
            p_value = welch_two_sided_p(mine, theirs)
    return ArmStats(arm.id, arm.label, arm.source, [row.seed for row in arm.rows],
                    math.fsum(steps) / len(steps) if steps else None, bpb, summarize(gaps) if gaps else None,
                    delta, seed_deltas, p_value, max(sizes) if sizes else None,
                    _settings_diff(control, arm) if arm is not control else [])


def compare_arms(control: ArmSeeds, arms: list[ArmSeeds], kind: str | None = None) -> ArmComparison:
    """kind None: the control's headline kind when the arms share it, else the last kind they share."""
    if kind is not None and kind not in KIND_ORDER:
        raise ValueError(f"unknown metric kind {kind!r} (choose from {', '.join(KIND_ORDER)})")
    kinds = [k for k in KIND_ORDER if control.values(k) and any(arm.values(k) for arm in arms or [control])]
    kind = kind or (control.headline_kind if control.headline_kind in kinds else (kinds[-1] if kinds else None))
    return ArmComparison(kind, kinds, arm_stats(control, control, kind), [arm_stats(arm, control, kind) for arm in arms])
