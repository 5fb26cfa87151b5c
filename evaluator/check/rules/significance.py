"""A significant improvement over the baseline, under the README's policy (the practice's row: significance_practice)."""
from __future__ import annotations

from evaluator.check.context import Context
from evaluator.check.findings import Rule, RuleResult, Status
from evaluator.records.comparison import PRACTICE_P_BAR, README_P_BAR, RECORD_MARGIN_NATS, UnitComparison
from evaluator.records.stats import WelchResult

RULE = Rule("significance", f"Significance: README ({RECORD_MARGIN_NATS} nats, p < {README_P_BAR})", 70,
            f"The challenge README ('Submission Process'): beat the SOTA by at least {RECORD_MARGIN_NATS} nats, shown at "
            f"p < {README_P_BAR} (one-sided Welch t-test over seeds), against the baseline given with --against or the "
            "leader at the time with --against-leader. 'nats' is read as nats per token (val_loss) when both records "
            "use the same tokenizer, else as nats per byte (BPB x ln 2). Not met while the leaderboard's later bar "
            f"(p < {PRACTICE_P_BAR} for 'better at all', the next row) is met WARNs: fewer than 15% of merged records "
            "meet the README's rule (openai/parameter-golf #2148); met by neither FAILs.")


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def welch_text(result: WelchResult | None) -> str:
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
            f"{unit.baseline.mean:.8f} (n={unit.baseline.n}), delta {unit.delta:+.8f}; better at all: {welch_text(unit.better)}")
    if unit.better_by_margin is not None:
        text += f"; better by {RECORD_MARGIN_NATS} nats: {welch_text(unit.better_by_margin)}"
    return text


def check(ctx: Context) -> RuleResult:
    comparison = ctx.comparison
    if comparison is None:
        return RULE.skip("no baseline given (--against or --against-leader)")
    found = RULE.findings()
    for unit in comparison.units.values():
        found.note(_unit_text(unit))
    for note in comparison.notes:
        found.note(note)
    decisive = comparison.decisive
    margin_p = decisive.better_by_margin.p_value if decisive.better_by_margin else None
    better_p = decisive.better.p_value if decisive.better else None
    unit = decisive.unit.replace("_", " ")
    if margin_p is not None and margin_p < README_P_BAR:
        return found.result(f"met: better by {RECORD_MARGIN_NATS} {unit} at p={margin_p:.4g} < {README_P_BAR}",
                            Status.PASS)
    if margin_p is None:
        return found.result("too few seeds for a Welch test (need 2 per side)", Status.WARN)
    if better_p is not None and better_p < PRACTICE_P_BAR:
        return found.result(f"not met: the {RECORD_MARGIN_NATS} {unit} margin has p={_p(margin_p)} >= {README_P_BAR} "
                            f"(the leaderboard's bar p < {PRACTICE_P_BAR} is met)", Status.WARN)
    return found.result(f"not met: the {RECORD_MARGIN_NATS} {unit} margin has p={_p(margin_p)}, and not better at all "
                        f"at p < {PRACTICE_P_BAR} (p={_p(better_p)})", Status.FAIL)
