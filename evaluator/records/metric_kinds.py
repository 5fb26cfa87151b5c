"""Which evaluation a final `... val_loss:X val_bpb:Y` line reports, judged from its label and context.

Kinds:
  pre_quant       the trained (often EMA/SWA-averaged) weights before quantisation
  roundtrip       the quantised+compressed artifact reloaded and scored with plain non-overlapping windows
  sliding_window  the reloaded artifact scored with overlapping windows (an eval stride)
  ttt             scored with test-time training (LoRA, score-first, phased ...)

The rule, in order (first match wins):
  1. Explicit evidence on the line itself: `eval_mode:...ttt...` -> ttt; `stride:N` / `stride=N` -> sliding_window.
  2. The label: contains "ttt" -> ttt; "sliding" -> sliding_window; "pre-quant"/"pre_quant"/"prequant"/
     "post_ema"/"post-ema"/"post_average" (weights averaged, not yet quantised) -> pre_quant; "roundtrip" or a
     bare "quantized" / "diagnostic quantized" -> roundtrip.
  3. Legacy-label correction for labels that say roundtrip (e.g. `final_int8_zlib_roundtrip_exact`):
     a. if its numbers equal those of a sliding_window (or ttt) line already seen in the same log (or round to
        them, where that line printed fewer decimals), it is that metric printed again under the baseline script's
        legacy name (the Micro Crawler, GPTQ-lite and
        Full-GPTQ logs end this way, right after `final_int6_roundtrip` and `final_int6_sliding_window`);
     b. if, since the previous final-metric line, the log announced a sliding-window evaluation
        (`sliding window eval`, `sliding_eval [...]` progress, `stride=`/`stride:`), it is that evaluation
        (the 2026-03-19 10L and SmearGate/BigramHash logs print their sliding result under the legacy label);
     c. likewise a `ttt:` announcement since the previous metric line makes it ttt.
  4. An `_exact` line takes the kind of the line just before it when the labels are the same apart from
     the `_exact` suffix (the rounded and exact prints of one evaluation).
Anything else is `unknown` and produces a parser warning. An unknown line can still be a record's headline
(CANDIDATE_KINDS): an eval-time method the rule does not name (SLOT, n-gram or PPM mixing) is what some folders
submit, and their claims say so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crawler.contract import MetricKind

KIND_DESCRIPTIONS = {
    MetricKind.PRE_QUANT: "the trained weights before quantisation",
    MetricKind.ROUNDTRIP: "the compressed artifact reloaded and scored in non-overlapping windows",
    MetricKind.SLIDING_WINDOW: "the compressed artifact reloaded and scored in overlapping (sliding) windows",
    MetricKind.TTT: "the compressed artifact reloaded and scored with test-time training",
    MetricKind.UNKNOWN: "an evaluation the reader does not classify (an eval-time method such as SLOT or n-gram mixing)",
}

# The order tables and pages show the kinds in (the order a run produces them), and their short names.
KIND_ORDER = (MetricKind.PRE_QUANT, MetricKind.ROUNDTRIP, MetricKind.SLIDING_WINDOW, MetricKind.TTT)
KIND_WORDS = {MetricKind.PRE_QUANT: "pre-quant", MetricKind.ROUNDTRIP: "roundtrip",
              MetricKind.SLIDING_WINDOW: "sliding window", MetricKind.TTT: "TTT", MetricKind.UNKNOWN: "unclassified"}

# The scored kinds, best-claimed first: what a record most likely reports when nothing says otherwise.
SCORE_PRIORITY = (MetricKind.TTT, MetricKind.SLIDING_WINDOW, MetricKind.ROUNDTRIP, MetricKind.PRE_QUANT)
# What a headline may be: the scored kinds, then the unclassified lines, taken only where the claims single them out
# or where a log has nothing else.
CANDIDATE_KINDS = (*SCORE_PRIORITY, MetricKind.UNKNOWN)

STRIDE_ON_LINE = re.compile(r"\bstride[:=]\s*\d+")
_TTT_MODE_ON_LINE = re.compile(r"\beval_mode:\S*ttt", re.IGNORECASE)
_SLIDING_ANNOUNCEMENT = re.compile(r"sliding[ _]window eval|sliding_eval|\bstride[=:]\s*\d+", re.IGNORECASE)
_TTT_ANNOUNCEMENT = re.compile(r"^ttt[:_]", re.IGNORECASE)
LEGACY_REPEAT = "legacy label repeats"


@dataclass(frozen=True)
class KindDecision:
    kind: MetricKind
    reason: str


def kind_from_label(label: str) -> MetricKind:
    low = label.lower()
    if "ttt" in low:
        return MetricKind.TTT
    if "sliding" in low:
        return MetricKind.SLIDING_WINDOW
    if any(word in low for word in ("pre-quant", "pre_quant", "prequant", "post_ema", "post-ema", "post_average")):
        return MetricKind.PRE_QUANT
    if "roundtrip" in low or low.split()[-1:] == ["quantized"]:
        return MetricKind.ROUNDTRIP
    return MetricKind.UNKNOWN


def base_label(label: str) -> str:
    return label[: -len("_exact")] if label.endswith("_exact") else label


@dataclass(frozen=True)
class SeenMetric:
    label: str
    kind: MetricKind
    val_loss: float | None
    val_bpb: float
    decimals: int | None = None  # of val_bpb as printed; None: compared exactly

    def same_numbers(self, val_loss: float | None, val_bpb: float) -> bool:
        """The numbers of a later line are this line's, printed alike or to more decimals."""
        if self.decimals is None:
            return self.val_bpb == val_bpb and self.val_loss == val_loss
        half = 0.5 * 10.0 ** -self.decimals + 1e-12
        return abs(self.val_bpb - val_bpb) <= half and (
            self.val_loss == val_loss or (self.val_loss is not None and val_loss is not None
                                          and abs(self.val_loss - val_loss) <= half))


def decide_kind(label: str, line_text: str, context_since_last_metric: list[str],
                seen: list[SeenMetric], val_loss: float | None, val_bpb: float) -> KindDecision:
    """Apply the module docstring's rule to one final-metric line."""
    if _TTT_MODE_ON_LINE.search(line_text):
        return KindDecision(MetricKind.TTT, "eval_mode on the line names TTT")
    if STRIDE_ON_LINE.search(line_text) and "ttt" not in label.lower():
        return KindDecision(MetricKind.SLIDING_WINDOW, "eval stride on the line")
    from_label = kind_from_label(label)
    if from_label is MetricKind.ROUNDTRIP:
        for earlier in reversed(seen):
            if earlier.kind in (MetricKind.SLIDING_WINDOW, MetricKind.TTT) and earlier.same_numbers(val_loss, val_bpb):
                return KindDecision(earlier.kind, f"{LEGACY_REPEAT} {earlier.label} (same numbers)")
        if seen and label.endswith("_exact") and seen[-1].label == base_label(label):
            return KindDecision(seen[-1].kind, f"exact print of {seen[-1].label}")
        if any(_SLIDING_ANNOUNCEMENT.search(text) for text in context_since_last_metric):
            return KindDecision(MetricKind.SLIDING_WINDOW, "legacy label after a sliding-window eval announcement")
        if any(_TTT_ANNOUNCEMENT.search(text) for text in context_since_last_metric):
            return KindDecision(MetricKind.TTT, "legacy label after a TTT announcement")
        return KindDecision(MetricKind.ROUNDTRIP, "label says roundtrip")
    if from_label is MetricKind.UNKNOWN and seen and base_label(label) == seen[-1].label:
        return KindDecision(seen[-1].kind, f"exact print of {seen[-1].label}")
    return KindDecision(from_label, "label" if from_label is not MetricKind.UNKNOWN else "label not recognised")
