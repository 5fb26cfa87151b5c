"""Read any record's submission.json into one typed model.

Records share no schema: the same fact appears as val_bpb / mean_val_bpb / val_bpb_exact,
bytes_total / artifact_bytes, bytes_code / code_bytes, per-seed results as
`seed_results: {seed: {...}}` or as `seed_1337: {...}` keys, and dates in several
formats. Each canonical field lists its aliases in priority order; the key that
supplied it is kept in `sources`, keys we do not know are kept in `extra`, and the
official core fields that were not found are listed in `missing`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from crawler.errors import PgolfError
from evaluator.records import safe_json
from evaluator.records.untrusted_files import JSON_LIMIT, RecordFileError, read_capped

# The fields the challenge's example submissions carry; their absence is reported.
CORE_FIELDS = ("author", "github_id", "name", "blurb", "date", "val_bpb", "val_loss",
               "bytes_total", "bytes_code")

_TEXT_ALIASES = {
    "author": ("author",),
    "github_id": ("github_id", "github"),
    "name": ("name", "run_name", "title"),
    "blurb": ("blurb", "description", "technique_summary"),
    "track": ("track",),
    "hardware": ("hardware", "gpu"),
}
# Most precise first: val_bpb_exact carries 8 decimals where val_bpb is often rounded.
_NUMBER_ALIASES = {
    "val_bpb": ("val_bpb_exact", "val_bpb", "mean_val_bpb", "val_bpb_mean"),
    "val_loss": ("val_loss_exact", "val_loss", "mean_val_loss", "val_loss_mean"),
    "val_bpb_std": ("val_bpb_std", "std_val_bpb"),
    "val_loss_std": ("val_loss_std",),
    "pre_quant_val_bpb": ("pre_quant_val_bpb",),
    "pre_quant_val_loss": ("pre_quant_val_loss",),
    "train_steps": ("step_stop", "train_steps", "steps", "train_steps_mean"),
    "train_time_s": ("train_time_s", "train_time_seconds", "wallclock_seconds", "train_time_s_mean"),
    "eval_time_s": ("eval_time_s", "eval_time_seconds", "eval_time_s_mean"),
    "model_params": ("model_params",),
}
_BYTES_ALIASES = {
    "bytes_total": ("bytes_total", "artifact_bytes", "artifact_size_bytes", "total_bytes",
                    "artifact_bytes_max", "artifact_bytes_mean"),
    "bytes_code": ("bytes_code", "code_bytes"),
}
_SEED_NUMBER_ALIASES = {
    "val_bpb": ("val_bpb_exact", "val_bpb"),
    "val_loss": ("val_loss_exact", "val_loss"),
    "steps": ("steps", "step_stop", "train_steps"),
    "train_time_s": ("train_time_s", "train_time_seconds", "wallclock_seconds"),
    "eval_time_s": ("eval_time_s", "ttt_eval_time_s", "eval_time_seconds"),
    "ms_per_step": ("ms_per_step", "step_avg_ms"),
}
_SEED_BYTES_ALIASES = ("bytes_total", "artifact_bytes", "artifact_size_bytes", "total_bytes")
_SEED_KEY = re.compile(rf"^seed[_-]?(\d{{1,{safe_json.MAX_DIGITS}}})$")
_LONG_SEED_KEY = re.compile(r"^seed[_-]?\d+$")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y",
                 "%d %B %Y", "%d %b %Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


class SubmissionError(PgolfError, ValueError):
    pass


class _JsonNumber(float):
    """A float that remembers how many decimals its JSON text had (the claim's precision)."""
    decimals: int

    def __new__(cls, text: str) -> "_JsonNumber":
        number = super().__new__(cls, text)
        mantissa = text.lower().split("e")[0]
        exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        number.decimals = max(0, digits - exponent)
        return number


@dataclass
class Claim:
    """A number as the submission states it, with the precision it was written to."""
    value: float
    decimals: int
    key: str  # the JSON key that held it, e.g. "seed_results.42.val_bpb"

    @property
    def tolerance(self) -> float:
        # a claim matches anything that rounds to it: half a unit in its last decimal
        return 0.5 * 10.0 ** (-self.decimals) + 1e-12

    def matches(self, value: float | None) -> bool:
        return value is not None and abs(self.value - value) <= self.tolerance


@dataclass
class SeedClaim:
    seed: int
    numbers: dict[str, Claim] = field(default_factory=dict)
    bytes_total: Claim | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Submission:
    path: str
    author: str | None = None
    github_id: str | None = None
    name: str | None = None
    blurb: str | None = None
    track: str | None = None
    hardware: str | None = None
    date: date | None = None
    date_raw: str | None = None
    numbers: dict[str, Claim] = field(default_factory=dict)  # keys of _NUMBER_ALIASES, most precise alias
    # further aliases of the same field also present (val_bpb next to val_bpb_exact): checked too
    alias_claims: list[tuple[str, Claim]] = field(default_factory=list)
    bytes_total: Claim | None = None
    bytes_code: Claim | None = None
    bytes_model: Claim | None = None
    seeds: list[int] = field(default_factory=list)
    seed_claims: dict[int, SeedClaim] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # canonical field -> JSON key used
    extra: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def number(self, name: str) -> float | None:
        claim = self.numbers.get(name)
        return claim.value if claim else None

    @property
    def val_bpb(self) -> float | None:
        return self.number("val_bpb")

    @property
    def val_loss(self) -> float | None:
        return self.number("val_loss")


def _claim(raw: Any, key: str) -> Claim | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    decimals = raw.decimals if isinstance(raw, _JsonNumber) else 0
    return Claim(float(raw), decimals, key)


def parse_date(text: str) -> date | None:
    text = text.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _as_seed(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= safe_json.MAX_DIGITS:
        return int(raw.strip())
    return None


def _read_seed_claim(seed: int, body: dict[str, Any], prefix: str, sub: Submission) -> SeedClaim:
    claim = SeedClaim(seed)
    used: set[str] = set()
    for name, aliases in _SEED_NUMBER_ALIASES.items():
        for alias in aliases:
            found = _claim(body.get(alias), f"{prefix}.{alias}")
            if found is not None:
                claim.numbers[name] = found
                used.add(alias)
                break
    if "eval_time_s" not in claim.numbers and (ms := _claim(body.get("eval_time_ms"), f"{prefix}.eval_time_ms")):
        claim.numbers["eval_time_s"] = Claim(ms.value / 1000.0, ms.decimals + 3, ms.key)
        used.add("eval_time_ms")
    for alias in _SEED_BYTES_ALIASES:
        if (found := _claim(body.get(alias), f"{prefix}.{alias}")) is not None:
            claim.bytes_total = found
            used.add(alias)
            break
    claim.extra = {k: v for k, v in body.items() if k not in used}
    if "val_bpb" not in claim.numbers:
        sub.warnings.append(f"{prefix}: no val_bpb for seed {seed}")
    return claim


def _read_seeds(data: dict[str, Any], sub: Submission, used: set[str]) -> None:
    results = data.get("seed_results")
    if isinstance(results, dict):
        used.add("seed_results")
        for key, body in results.items():
            seed = _as_seed(key)
            if seed is None or not isinstance(body, dict):
                sub.warnings.append(f"seed_results.{key}: not a seed with a result object, kept as is")
                continue
            sub.seed_claims[seed] = _read_seed_claim(seed, body, f"seed_results.{key}", sub)
    elif isinstance(results, list):
        used.add("seed_results")
        for index, body in enumerate(results):
            seed = _as_seed(body.get("seed")) if isinstance(body, dict) else None
            if seed is None:
                sub.warnings.append(f"seed_results[{index}]: entry without a seed, ignored")
                continue
            sub.seed_claims[seed] = _read_seed_claim(seed, body, f"seed_results[{index}]", sub)
    for key, body in data.items():
        match = _SEED_KEY.match(key)
        if not match and _LONG_SEED_KEY.match(key):
            sub.warnings.append(f"{key[:24]}...: a seed of {len(key):,} characters, ignored")
        if match and isinstance(body, dict):
            used.add(key)
            seed = int(match.group(1))
            sub.seed_claims[seed] = _read_seed_claim(seed, body, key, sub)
    listed = data.get("seeds")
    if isinstance(listed, list):
        used.add("seeds")
        for raw in listed:
            seed = _as_seed(raw)
            if seed is None:
                sub.warnings.append(f"seeds: {raw!r} is not a seed number, ignored")
            elif seed not in sub.seeds:
                sub.seeds.append(seed)
    if (single := _as_seed(data.get("seed"))) is not None:
        used.add("seed")
        if single not in sub.seeds:
            sub.seeds.append(single)
    for seed in sub.seed_claims:
        if seed not in sub.seeds:
            sub.seeds.append(seed)
    if isinstance(listed, list) and sub.seed_claims and set(sub.seed_claims) != set(sub.seeds):
        sub.warnings.append(f"seeds {sub.seeds} and per-seed results {sorted(sub.seed_claims)} disagree")


def submission_from_dict(data: dict[str, Any], path: str) -> Submission:
    sub = Submission(path=path)
    used: set[str] = set()
    for name, aliases in _TEXT_ALIASES.items():
        for alias in aliases:
            value = data.get(alias)
            if isinstance(value, str) and value.strip():
                setattr(sub, name, value)
                sub.sources[name] = alias
                used.add(alias)
                break
    if isinstance(data.get("date"), str):
        used.add("date")
        sub.date_raw = data["date"]
        sub.date = parse_date(data["date"])
        sub.sources["date"] = "date"
        if sub.date is None:
            sub.warnings.append(f"date {data['date']!r} is in no format we know")
    for name, aliases in _NUMBER_ALIASES.items():
        for alias in aliases:
            if (found := _claim(data.get(alias), alias)) is None:
                continue
            used.add(alias)
            if name in sub.numbers:
                sub.alias_claims.append((name, found))
            else:
                sub.numbers[name] = found
                sub.sources[name] = alias
    for name, aliases in _BYTES_ALIASES.items():
        for alias in aliases:
            if (found := _claim(data.get(alias), alias)) is not None:
                setattr(sub, name, found)
                sub.sources[name] = alias
                used.add(alias)
                if alias.endswith("_mean"):
                    sub.warnings.append(f"{name} taken from {alias}: a mean over seeds, not the worst seed")
                break
    model_keys = sorted(k for k in data if k.startswith("bytes_model"))
    if model_keys and (found := _claim(data[model_keys[0]], model_keys[0])) is not None:
        sub.bytes_model = found
        sub.sources["bytes_model"] = model_keys[0]
        used.add(model_keys[0])
    _read_seeds(data, sub, used)
    sub.extra = {k: v for k, v in data.items() if k not in used}
    present = {"author": sub.author, "github_id": sub.github_id, "name": sub.name,
               "blurb": sub.blurb, "date": sub.date_raw, "val_bpb": sub.val_bpb,
               "val_loss": sub.val_loss, "bytes_total": sub.bytes_total, "bytes_code": sub.bytes_code}
    sub.missing = [name for name in CORE_FIELDS if present[name] is None]
    return sub


def read_submission(path: Path) -> Submission:
    """Parse a submission file tolerantly; SubmissionError (one line) when it is not a sane JSON object."""
    try:
        capped = read_capped(path, JSON_LIMIT)
        if capped.truncated:
            raise SubmissionError(f"{path.name}: {capped.size:,} bytes, over the {JSON_LIMIT:,}-byte limit; not read")
        data = safe_json.loads(capped.data.decode("utf-8", errors="replace"), path.name, parse_float=_JsonNumber)
    except (safe_json.JsonError, RecordFileError) as exc:
        raise SubmissionError(str(exc)) from None
    if not isinstance(data, dict):
        raise SubmissionError(f"{path.name}: expected a JSON object, found {type(data).__name__}")
    return submission_from_dict(data, str(path))
