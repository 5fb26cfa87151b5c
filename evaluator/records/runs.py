"""Which of a folder's training runs are the submission, as a careful reviewer would decide it.

A folder's logs hold runs (logs.TrainLog, one per run, a file holding several split by logs.run_starts), and not
every run is a seed of the submitted configuration: a folder may keep an original run and a rerun of each seed, or
be a study whose logs train different configurations. The rule, in order:

0. Logs may sit at the top of the folder and in subfolders (earlier runs beside the submitted ones): the folder
   whose runs reproduce more of submission.json's val_bpb claims is taken, else the one the README names
   (`folder/`), else the top level, and the choice is an ambiguity.
1. Runs are grouped by configuration: the model's parameter count, vocabulary, tokenizer, training sequence
   length, step budget and wallclock cap each run prints (a value a run does not print matches any), and the
   class of its step count and training time (100,000 steps beside 6,090, or a 10-step trial beside 10-minute
   runs, are different experiments even where no setting is printed).
2. submission.json decides when it can: the configuration (as the folder, in step 0) whose runs reproduce the
   most val_bpb claims (each seed's claim by that seed's run in any metric kind, the top-level claim by the mean
   or by one run) is the submission; within it each seed's run that reproduces its claim.
3. Otherwise the largest configuration is taken, and within it the last run of each seed (a rerun comes after
   the run it repeats, by file and line order).
4. Where the top-level val_bpb is the mean over every run of the configuration, a seed's repeats included, and
   one run per seed does not give it, every run is counted (the folder reports its repeats as its runs).
Every choice the claims did not decide is reported as an ambiguity with the other reading, and every run left
out is kept with the reason, so a reviewer sees both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from evaluator.records.metric_kinds import CANDIDATE_KINDS
from evaluator.records.submission import Claim, Submission
from evaluator.records.train_log import TrainLog


@dataclass(frozen=True)
class SetAside:
    run: str  # file, and lines when the file holds several runs
    seed: int | None
    reason: str


@dataclass
class SubmittedRuns:
    runs: list[TrainLog]
    set_aside: list[SetAside] = field(default_factory=list)
    ambiguities: list[str] = field(default_factory=list)


def run_label(log: TrainLog) -> str:
    if log.runs_in_file == 1:
        return log.file_name
    return f"{log.file_name} lines {log.first_line}-{log.n_lines}"


# Seeds of one submission train about as long: steps within a factor of 2 (hardware and data loading vary), training
# time within 1.5 (a 10-minute cap and an hour-long run are different experiments; 588 s and 600 s are one class).
STEP_RATIO = 2.0
TIME_RATIO = 1.5
_NAMES = ("params", "vocab", "tokenizer", "seq_len", "iterations", "wallclock", "steps", "train s")


def _configuration(log: TrainLog) -> tuple:
    time = log.train_time_ms
    return (log.model_params.value if log.model_params else None, log.vocab_size, log.tokenizer, log.train_seq_len,
            log.iterations.value if log.iterations else None,
            log.max_wallclock_seconds.value if log.max_wallclock_seconds else None,
            log.final_step, round(time.value / 1000.0) if time else None)


def _near(x: float, y: float, ratio: float) -> bool:
    low, high = sorted((abs(x), abs(y)))
    return high <= ratio * low if low else high == low


def _same_configuration(a: tuple, b: tuple) -> bool:
    """Settings equal where both runs print them; step count and training time of one class (STEP_RATIO,
    TIME_RATIO)."""
    settings = all(x is None or y is None or x == y for x, y in zip(a[:6], b[:6]))
    return settings and all(x is None or y is None or _near(x, y, ratio) for x, y, ratio in
                            ((a[6], b[6], STEP_RATIO), (a[7], b[7], TIME_RATIO)))


def _describe(configuration: tuple) -> str:
    return ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                     for name, value in zip(_NAMES, configuration) if value is not None) or "no settings printed"


def _groups(runs: list[TrainLog]) -> list[list[TrainLog]]:
    groups: list[tuple[tuple, list[TrainLog]]] = []
    for run in runs:
        configuration = _configuration(run)
        home = next((group for key, group in groups if _same_configuration(key, configuration)), None)
        if home is None:
            groups.append((configuration, [run]))
        else:
            home.append(run)
    return [group for _, group in groups]


def _bpbs(run: TrainLog) -> list[float]:
    return [m.val_bpb for kind in CANDIDATE_KINDS if (m := run.final(kind))]


def _reproduces(claim: Claim, runs: list[TrainLog]) -> bool:
    """Some metric kind's mean over the runs, or a single run's value, rounds to the claim."""
    for kind in CANDIDATE_KINDS:
        values = [m.val_bpb for run in runs if (m := run.final(kind))]
        if values and (claim.matches(math.fsum(values) / len(values)) or any(claim.matches(v) for v in values)):
            return True
    return False


def _one_per_seed(group: list[TrainLog], sub: Submission | None, result: SubmittedRuns) -> list[TrainLog]:
    by_seed: dict[int | None, list[TrainLog]] = {}
    for run in group:
        by_seed.setdefault(run.seed, []).append(run)
    chosen = []
    for seed, runs in by_seed.items():
        if seed is None or len(runs) == 1:
            chosen += runs
            continue
        claim = sub.seed_claims[seed].numbers.get("val_bpb") if sub and seed in sub.seed_claims else None
        if claim is None and sub and len(by_seed) == 1:
            claim = sub.numbers.get("val_bpb")  # a single-seed write-up: its headline is that seed's value
        matching = [run for run in runs if claim and any(claim.matches(v) for v in _bpbs(run))]
        pick = matching[-1] if matching else runs[-1]
        chosen.append(pick)
        others = [run for run in runs if run is not pick]
        why = (f"seed {seed} has {len(runs)} runs; {run_label(pick)} reproduces the claimed val_bpb" if matching
               else f"seed {seed} has {len(runs)} runs; the last, {run_label(pick)}, is taken")
        result.set_aside += [SetAside(run_label(run), seed, why) for run in others]
        if not matching:
            result.ambiguities.append(f"{why}; the other reading is "
                                      + " or ".join(run_label(run) for run in others))
    order = {id(run): i for i, run in enumerate(group)}
    return sorted(chosen, key=lambda run: order[id(run)])


def _folder(run: TrainLog) -> str:
    return run.file_name.rsplit("/", 1)[0] if "/" in run.file_name else ""


def _claims_reproduced(runs: list[TrainLog], sub: Submission | None) -> int:
    if sub is None:
        return 0
    count = sum(1 for seed, claim in sub.seed_claims.items() if (bpb := claim.numbers.get("val_bpb"))
                and any(run.seed == seed and any(bpb.matches(v) for v in _bpbs(run)) for run in runs))
    top = sub.numbers.get("val_bpb")
    return count + (1 if top and _reproduces(top, runs) else 0)


def _choose_folder(runs: list[TrainLog], sub: Submission | None, readme: str,
                   result: SubmittedRuns) -> list[TrainLog]:
    folders: dict[str, list[TrainLog]] = {}
    for run in runs:
        folders.setdefault(_folder(run), []).append(run)
    if len(folders) < 2:
        return runs
    scores = {name: _claims_reproduced(group, sub) for name, group in folders.items()}
    best = max(scores.values())
    named = [name for name in folders if name and f"{name}/" in readme]
    if best and list(scores.values()).count(best) == 1:
        chosen, why = next(name for name, score in scores.items() if score == best), "reproduce submission.json's claims"
    elif len(named) == 1:
        chosen, why = named[0], "are the ones the README names"
    else:
        chosen = "" if "" in folders else sorted(folders)[0]
        why = "are taken by default: neither the claims nor the README single out a folder"
        result.ambiguities.append(f"logs in {len(folders)} places ({', '.join(n or 'top level' for n in folders)}); "
                                  f"taken: {chosen or 'the top level'}")
    place = f"{chosen}/" if chosen else "the top level"
    for name, group in folders.items():
        if name != chosen:
            result.set_aside += [SetAside(run_label(run), run.seed, f"the runs in {place} {why}") for run in group]
    return folders[chosen]


def submitted_runs(runs: list[TrainLog], sub: Submission | None, readme: str = "") -> SubmittedRuns:
    """The runs a folder submits (see the module docstring), the runs set aside and why, and the ambiguities.
    readme: the README's text, which may name the folder that holds the submitted logs."""
    result = SubmittedRuns([])
    groups = _groups(_choose_folder(runs, sub, readme, result))
    if len(groups) > 1:
        scores = [_claims_reproduced(group, sub) for group in groups]
        decided = [group for group, score in zip(groups, scores) if score and score == max(scores)]
        if len(decided) == 1:
            chosen, why = decided[0], "reproduces submission.json's claims"
        else:
            chosen = max(groups, key=len)
            why = "the largest configuration (the claims do not single one out)"
            readings = "; ".join(f"{len(g)} run(s) with {_describe(_configuration(g[0]))}" for g in groups
                                 if g is not chosen)
            result.ambiguities.append(f"the logs train {len(groups)} configurations; taken: {len(chosen)} run(s) "
                                      f"with {_describe(_configuration(chosen[0]))}; the other reading(s): {readings}")
        for group in groups:
            if group is not chosen:
                result.set_aside += [SetAside(run_label(run), run.seed, f"another configuration "
                                              f"({_describe(_configuration(run))}) than the submitted one, which {why}")
                                     for run in group]
        groups = [chosen]
    group = groups[0] if groups else []
    picked = SubmittedRuns([])
    picked.runs = _one_per_seed(group, sub, picked) if group else []
    if _repeats_are_the_claim(group, picked.runs, sub):
        result.runs = group
        result.ambiguities.append(f"{len(group)} runs of {len({run.seed for run in group})} seed(s): submission.json's "
                                  "val_bpb is the mean over all of them, so each is counted, though a repeated seed is "
                                  "no independent seed")
    else:
        result.runs = picked.runs
        result.set_aside += picked.set_aside
        result.ambiguities += picked.ambiguities
    return result


def _repeats_are_the_claim(group: list[TrainLog], picked: list[TrainLog], sub: Submission | None) -> bool:
    """The top-level claim is the mean over every run of the configuration, seeds repeated included, and neither
    the mean nor any run of one-run-per-seed gives it (a folder reporting repeats of one seed as its runs)."""
    claim = sub.numbers.get("val_bpb") if sub else None
    if claim is None or len(picked) == len(group):
        return False
    for kind in CANDIDATE_KINDS:
        every = [m.val_bpb for run in group if (m := run.final(kind))]
        if len(every) == len(group) and claim.matches(math.fsum(every) / len(every)):
            return not _reproduces(claim, picked)
    return False
