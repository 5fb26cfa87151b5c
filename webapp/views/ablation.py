"""The ablation page's model: arms against one control in one metric kind (the evaluator computes the
table), the arms to choose from, and the ablations `pgolf ablate` has run."""
from __future__ import annotations

from evaluator.ablation.compare import ArmSeeds, compare_arms
from evaluator.ablation.plan import AblationPlan
from evaluator.ablation.runner import RunResult
from evaluator.records.metric_kinds import KIND_ORDER
from webapp.comparability import corpus_warning
from webapp.schemas import Ablation, AblationLink, ArmChoice, ArmRow


class AblationError(ValueError):
    pass


class UnknownArm(AblationError):
    pass


def ablation_links(ablations: list[tuple[AblationPlan, list[RunResult]]]) -> list[AblationLink]:
    """Each ablation run by `pgolf ablate`, as the comparison of all its arms against its control."""
    links = []
    for plan, results in ablations:
        ids = [f"ablation:{plan.name}/{arm.name}" for arm in plan.arms]
        control = f"ablation:{plan.name}/{plan.control}"
        ok = sum(r.ok for r in results)
        links.append(AblationLink(name=plan.name, description=plan.description, control=control,
                                  arms=[i for i in ids if i != control], finished=ok, failed=len(results) - ok,
                                  total=len(plan.runs())))
    return links


def ablation(arms: list[ArmSeeds], control_id: str | None, arm_ids: list[str], kind: str | None,
             problems: list[str], links: list[AblationLink]) -> Ablation:
    by_id = {arm.id: arm for arm in arms}
    choices = [ArmChoice(id=arm.id, label=arm.label if arm.source != "ablation" else arm.id.split(":", 1)[1],
                         source=arm.source) for arm in arms]
    if not control_id:
        return Ablation(kind=None, kinds=[], control=None, arms=[], choices=choices, problems=problems,
                        ablations=links)
    unknown = [i for i in [control_id, *arm_ids] if i not in by_id]
    if unknown:
        raise UnknownArm(f"no such arm: {unknown[0]}")
    if kind and kind not in KIND_ORDER:
        raise AblationError(f"unknown metric kind {kind!r} (choose from {', '.join(KIND_ORDER)})")
    chosen = [by_id[i] for i in dict.fromkeys(arm_ids) if i != control_id]
    result = compare_arms(by_id[control_id], chosen, kind or None)
    row = lambda stats: ArmRow.model_validate(stats, from_attributes=True)
    return Ablation(kind=result.kind, kinds=result.kinds, control=row(result.control),
                    arms=[row(stats) for stats in result.arms], choices=choices, problems=problems, ablations=links)


def refuse_cross_corpus(result: Ablation, corpora: dict[str, str]) -> None:
    """An arm scored on another corpus than the control gets no delta, seed deltas or p (as the overlay gives
    none): a BPB on other text minus the control's is a difference of corpora, not of models. corpora: by arm id."""
    if result.control is None:
        return
    control = corpora[result.control.id]
    for row in result.arms:
        if corpora[row.id] != control:
            row.delta, row.seed_deltas, row.p_value = None, [], None
            row.not_comparable = f"other corpus ({corpora[row.id]} vs the control's {control})"
    result.comparability = corpus_warning({row.label: corpora[row.id] for row in [result.control, *result.arms]})
