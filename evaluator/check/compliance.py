"""The compliance report: every rule module under evaluator/check/rules/ run on one record, in their order."""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from evaluator.check import rules
from evaluator.check.context import Context
from evaluator.check.findings import RuleResult, Status, worst
from evaluator.records.comparison import RecordComparison, compare_records
from evaluator.records.jsonable import JsonMixin
from evaluator.records.record import Record
from evaluator.records.seeds import SeedTable, seed_table

if TYPE_CHECKING:
    from evaluator.artifacts.eval_report import EvalReport


def _rule_modules() -> list[ModuleType]:
    """Each module in rules/ with a RULE and a check(ctx): adding a rule is adding a file."""
    found = [importlib.import_module(f"{rules.__name__}.{info.name}") for info in pkgutil.iter_modules(rules.__path__)]
    return sorted(found, key=lambda module: module.RULE.order)


RULES = _rule_modules()


@dataclass
class ComplianceReport(JsonMixin):
    record: str
    record_path: str
    against: str | None
    status: Status
    rows: list[RuleResult]
    seed_table: SeedTable
    comparison: RecordComparison | None

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def to_markdown(self) -> str:
        lines = [f"### Compliance: `{self.record}` — **{self.status}**", ""]
        if self.against:
            lines += [f"Baseline: `{self.against}`", ""]
        lines += ["| Rule | Status | Summary |", "|---|---|---|"]
        lines += [f"| {row.title} | {row.status} | {_md(row.summary)} |" for row in self.rows]
        lines += ["", "#### Seeds", "", self.seed_table.to_markdown(), "", "<details><summary>Evidence and readings</summary>", ""]
        for row in self.rows:
            lines.append(f"**{row.title}** — {row.status}: {_md(row.summary)}  ")
            lines.append(f"_Reading:_ {_md(row.reading)}")
            lines += [f"- {_md(e.text)}" + (f" (`{e.where}`)" if e.where else "") for e in row.evidence]
            lines.append("")
        lines.append("</details>")
        return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def compliance_report(record: Record, against: Record | None = None,
                      artifact_report: "EvalReport | None" = None) -> ComplianceReport:
    """Every rule on one record; `against` adds the significance test, `artifact_report` (from
    evaluator.artifacts.eval_report.evaluate_artifact) the re-evaluation."""
    ctx = Context(record, against, compare_records(record, against) if against else None, artifact_report)
    rows = [module.check(ctx) for module in RULES]
    return ComplianceReport(record=record.name, record_path=record.path, against=against.name if against else None,
                            status=worst([row.status for row in rows]), rows=rows, seed_table=seed_table(record),
                            comparison=ctx.comparison)
