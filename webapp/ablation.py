"""An ablation table: each arm against one control, in one metric kind, with the settings that differ."""
from __future__ import annotations

import math

from evaluator.records.metric_kinds import SCORE_PRIORITY
from evaluator.records.stats import summarize, welch_one_sided
from webapp.arms import Arm
from webapp.schemas import Ablation, ArmChoice, ArmRow, KindSummary, SettingDiff

KIND_ORDER = tuple(kind.value for kind in reversed(SCORE_PRIORITY))  # pre_quant, roundtrip, sliding_window, ttt


class AblationError(ValueError):
    pass


class UnknownArm(AblationError):
    pass


def _values(arm: Arm, kind: str) -> list[float]:
    return [v for row in arm.rows if (v := row.bpb_by_kind.get(kind)) is not None]


def _settings_diff(control: Arm, arm: Arm) -> list[SettingDiff]:
    keys = sorted(set(control.settings) | set(arm.settings))
    return [SettingDiff(key=k, control=control.settings.get(k), arm=arm.settings.get(k))
            for k in keys if control.settings.get(k) != arm.settings.get(k)]


def _row(arm: Arm, control: Arm, kind: str | None) -> ArmRow:
    bpb = {}
    for k in KIND_ORDER:
        summary = summarize(_values(arm, k))
        if summary.n:
            bpb[k] = KindSummary(n=summary.n, mean=summary.mean, std=summary.std)
    steps = [row.steps for row in arm.rows if row.steps is not None]
    sizes = [row.total_bytes for row in arm.rows if row.total_bytes is not None]
    delta, seed_deltas, p_value = None, [], None
    mine, theirs = (_values(arm, kind), _values(control, kind)) if kind else ([], [])
    if mine and theirs:
        base = math.fsum(theirs) / len(theirs)
        seed_deltas = [v - base for v in mine]
        delta = math.fsum(seed_deltas) / len(seed_deltas)
        if arm is not control:
            p_value = welch_one_sided(mine, theirs).p_value
    return ArmRow(id=arm.id, label=arm.label, source=arm.source, seeds=[row.seed for row in arm.rows],
                  steps=math.fsum(steps) / len(steps) if steps else None, bpb=bpb, delta=delta,
                  seed_deltas=seed_deltas, p_value=p_value, worst_total_bytes=max(sizes) if sizes else None,
                  settings_diff=_settings_diff(control, arm) if arm is not control else [])


def ablation(arms: list[Arm], control_id: str | None, arm_ids: list[str], kind: str | None,
             problems: list[str]) -> Ablation:
    by_id = {arm.id: arm for arm in arms}
    choices = [ArmChoice(id=arm.id, label=arm.label, source=arm.source) for arm in arms]
    if not control_id:
        return Ablation(kind=None, kinds=[], control=None, arms=[], choices=choices, problems=problems)
    unknown = [i for i in [control_id, *arm_ids] if i not in by_id]
    if unknown:
        raise UnknownArm(f"no such record or run: {unknown[0]}")
    if kind and kind not in KIND_ORDER:
        raise AblationError(f"unknown metric kind {kind!r} (choose from {', '.join(KIND_ORDER)})")
    control = by_id[control_id]
    chosen = [by_id[i] for i in dict.fromkeys(arm_ids) if i != control_id]
    kinds = [k for k in KIND_ORDER if _values(control, k) and any(_values(arm, k) for arm in chosen or [control])]
    kind = kind or (control.headline_kind if control.headline_kind in kinds else (kinds[-1] if kinds else None))
    return Ablation(kind=kind, kinds=kinds, control=_row(control, control, kind),
                    arms=[_row(arm, control, kind) for arm in chosen], choices=choices, problems=problems)
