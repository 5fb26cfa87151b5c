"""A significant improvement over the leader at the time, as the maintainers' leaderboard admitted rows in practice."""
from __future__ import annotations

from evaluator.check.context import Context
from evaluator.check.findings import Rule, RuleResult, Status
from evaluator.check.rules.significance import welch_text
from evaluator.records.comparison import PRACTICE_P_BAR

RULE = Rule("significance_practice", f"Significance: leaderboard practice (p < {PRACTICE_P_BAR})", 71,
            f"The leaderboard as the maintainers kept it (openai/parameter-golf #1902, with #1899 and #1900): a row is "
            f"admitted when its seeds are lower than the leader at the time at one-sided Welch p < {PRACTICE_P_BAR} "
            "('better at all', no margin), in the unit the README row uses. The baseline is the one given with "
            "--against, or with --against-leader the best record of the same track dated before this one. A grace "
            "policy for near-ties (#2146) is not modelled. Not better at that bar FAILs.")


def check(ctx: Context) -> RuleResult:
    comparison = ctx.comparison
    if comparison is None:
        return RULE.skip("no baseline given (--against or --against-leader)")
    found = RULE.findings()
    decisive = comparison.decisive
    found.note(f"{decisive.unit.replace('_', ' ')}: better at all: {welch_text(decisive.better)}")
    better_p = decisive.better.p_value if decisive.better else None
    if better_p is None:
        return found.result("too few seeds for a Welch test (need 2 per side)", Status.WARN)
    if better_p < PRACTICE_P_BAR:
        return found.result(f"met: better than the baseline at p={better_p:.4g} < {PRACTICE_P_BAR}", Status.PASS)
    return found.result(f"not met: p={better_p:.4g} >= {PRACTICE_P_BAR}", Status.FAIL)
