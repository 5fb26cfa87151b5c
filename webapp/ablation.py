"""The ablation page's model: arms against one control in one metric kind (the evaluator computes the
table), the arms to choose from, and the ablations `pgolf ablate` has run."""
from __future__ import annotations

from pathlib import Path

from crawler.errors import PgolfError
from evaluator.ablation.compare import KIND_ORDER, ArmSeeds, compare
from evaluator.ablation.report import load_results_folder
from evaluator.ablation.runner import plan_status
from webapp.arms import ablation_folders
from webapp.schemas import Ablation, AblationLink, ArmChoice, ArmRow


class AblationError(ValueError):
    pass


class UnknownArm(AblationError):
    pass


def ablation_links(roots: list[Path]) -> list[AblationLink]:
    """Each ablation run by `pgolf ablate`, as the comparison of all its arms against its control."""
    links = []
    for folder in ablation_folders(roots):
        try:
            plan = load_results_folder(folder)
            states = plan_status(plan)
        except PgolfError:
            continue  # ablation_arms reports the problem
        ids = [f"ablation:{plan.name}/{arm.name}" for arm in plan.arms]
        control = f"ablation:{plan.name}/{plan.control}"
        links.append(AblationLink(name=plan.name, description=plan.description, control=control,
                                  arms=[i for i in ids if i != control], finished=len(states["finished"]),
                                  failed=len(states["failed"]), total=sum(len(v) for v in states.values())))
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
    result = compare(by_id[control_id], chosen, kind or None)
    row = lambda stats: ArmRow.model_validate(stats, from_attributes=True)
    return Ablation(kind=result.kind, kinds=result.kinds, control=row(result.control),
                    arms=[row(stats) for stats in result.arms], choices=choices, problems=problems, ablations=links)
