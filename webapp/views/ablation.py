"""The ablation page's model: arms against one control in one metric kind (the evaluator computes the
table), the arms to choose from, and the ablations `pgolf ablate` has run."""
from __future__ import annotations

from pathlib import Path

from evaluator.service import (KIND_ORDER, AblationPlan, ArmSeeds, RecordCatalog, RunResult, all_arms, arm_corpus,
                               compare_arms, corpus_warning, load_ablations)
from webapp.schemas import Ablation, AblationLink, ArmChoice


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
    return Ablation(kind=result.kind, kinds=result.kinds, control=result.control, arms=result.arms, choices=choices,
                    problems=problems, ablations=links)


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


def ablation_view(catalog: RecordCatalog, run_roots: list[Path], ablation_roots: list[Path], control: str | None,
                  arm_ids: list[str], kind: str | None) -> Ablation:
    """The page's model over every arm the server knows: records, training runs and ablations; UnknownArm or
    AblationError when the choice cannot be compared."""
    ablations, ablation_problems = load_ablations(ablation_roots)
    choices, problems = all_arms(catalog, run_roots, ablations)
    result = ablation(choices, control, arm_ids, kind, problems + ablation_problems, ablation_links(ablations))
    if result.control:
        # a CPU demo's BPB on Wikipedia text set against FineWeb records is a difference of corpora, not of models
        by_id, plans = {arm.id: arm for arm in choices}, {plan.name: (plan, runs) for plan, runs in ablations}
        records = {entry.id: entry for entry in catalog.entries()}
        refuse_cross_corpus(result, {row.id: arm_corpus(by_id[row.id], records, plans)
                                     for row in [result.control, *result.arms]})
    return result
