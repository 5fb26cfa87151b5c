"""Jinja2 templates from the top-level templates/ folder, with the number formats every page shares."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from crawler.contract import ARTIFACT_PASSES, SIZE_CAP_BYTES, MetricKind
from evaluator.service import KIND_ORDER, KIND_WORDS, LOADING_STAGE, LOOPS_STAGE, units
from webapp.charts import PLOTLY_JS_URL, effect_decimals
from webapp.markdown import render_markdown

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
DASH = "—"


def fixed(value: float | None, digits: int = 8) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 8) -> str:
    return DASH if value is None else f"{value:+.{digits}f}"


def thousands(value: int | float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def p_value(value: float | None) -> str:
    if value is None:
        return DASH
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def duration(seconds: float | None) -> str:
    return DASH if seconds is None else units.duration(seconds)


def mebibytes(value: int) -> str:
    return f"{value / 2**20:.0f} MiB" if value % 2**20 == 0 else f"{value:,} bytes"


def when(value: datetime | None) -> str:
    return DASH if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def breakable(text: str) -> Markup:
    """Long folder names may wrap after each underscore instead of at any character."""
    return Markup("_<wbr>").join(escape(part) for part in text.split("_"))


def markdown(text: str) -> Markup:
    # render_markdown escapes raw HTML and sanitises what it emits, so the result may go out unescaped
    return Markup(render_markdown(text))


templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters.update(fixed=fixed, signed=signed, thousands=thousands, p_value=p_value, when=when,
                             duration=duration, mebibytes=mebibytes, breakable=breakable, markdown=markdown)
templates.env.globals.update(PLOTLY_JS_URL=PLOTLY_JS_URL, effect_decimals=effect_decimals, SIZE_CAP_BYTES=SIZE_CAP_BYTES,
                             KIND_ORDER=KIND_ORDER, KIND_WORDS=KIND_WORDS, ARTIFACT_PASSES=ARTIFACT_PASSES)
# what a running job is doing, in words (the job page hands the table to static/evaluation.js)
templates.env.globals["STAGES"] = {LOADING_STAGE: "loading the artifact", MetricKind.ROUNDTRIP: "roundtrip evaluation",
                                   MetricKind.SLIDING_WINDOW: "sliding-window evaluation",
                                   MetricKind.PRE_QUANT: "pre-quantisation evaluation",
                                   LOOPS_STAGE: "loop-wise analysis"}
