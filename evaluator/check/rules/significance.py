"""A significant improvement over the baseline given with --against."""
from __future__ import annotations

from evaluator.check.context import Context
from evaluator.check.findings import Rule, RuleResult, Status
from evaluator.records.compare import PRACTICE_P_BAR, README_P_BAR, RECORD_MARGIN_NATS, UnitComparison
from evaluator.records.stats import WelchResult

RULE = Rule("significance", "Improvement over a baseline", 70,
            f"README: beat the SOTA by at least {RECORD_MARGIN_NATS} nats, shown at p < {README_P_BAR} (one-sided Welch "
            "t-test over seeds). 'nats' is read as nats per token (val_loss) when both records use the same tokenizer, "
            "else as nats per byte (BPB x ln 2). In practice the maintainers' leaderboard (openai/parameter-golf PR "
            f"#1902) admits a row at one-sided Welch p < {PRACTICE_P_BAR} for 'better at all' against the previous "
            "frontier: meeting only that bar WARNs.")


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _welch_text(result: WelchResult | None) -> str:
    if result is None:
        return "n/a"
    if result.p_value is None:
        return f"n/a ({result.note})"
    t = f"t={result.t:.3f}, df={result.df:.2f}, " if result.t is not None else ""
    return f"{t}p={result.p_value:.4g}"


def _unit_text(unit: UnitComparison) -> str:
    names = {"bpb": "BPB", "nats_per_byte": "nats/byte", "nats_per_token": "nats/token"}
    if unit.delta is None:
        return f"{names[unit.unit]}: no values"
    text = (f"{names[unit.unit]}: candidate {unit.candidate.mean:.8f} (n={unit.candidate.n}) vs baseline "
            f"{unit.baseline.mean:.8f} (n={unit.baseline.n}), delta {unit.delta:+.8f}; better at all: {_welch_text(unit.better)}")
    if unit.better_by_margin is not None:
        text += f"; better by {RECORD_MARGIN_NATS} nats: {_welch_text(unit.better_by_margin)}"
    return text


def check(ctx: Context) -> RuleResult:
    comparison = ctx.comparison
    if comparison is None:
        return RULE.skip("no --against baseline given")
    found = RULE.findings()
    for unit in comparison.units.values():
        found.note(_unit_text(unit))
    for note in comparison.notes:
        found.note(note)
    decisive = comparison.decisive
    margin_p = decisive.better_by_margin.p_value if decisive.better_by_margin else None
    better_p = decisive.better.p_value if decisive.better else None
    if margin_p is not None and margin_p < README_P_BAR:
        return found.result(f"better by {RECORD_MARGIN_NATS} {decisive.unit.replace('_', ' ')}: p={margin_p:.4g} "
                            f"< {README_P_BAR}", Status.PASS)
    if better_p is not None and better_p < PRACTICE_P_BAR:
        return found.result(f"better at all p={better_p:.4g} (< {PRACTICE_P_BAR}, practice bar); the "
                            f"{RECORD_MARGIN_NATS}-nat margin p={_p(margin_p)} misses p < {README_P_BAR}", Status.WARN)
    if better_p is None:
        return found.result("too few seeds for a Welch test (need 2 per side)", Status.WARN)
    return found.result(f"not better than the baseline: p={better_p:.4g} >= {PRACTICE_P_BAR}", Status.FAIL)
