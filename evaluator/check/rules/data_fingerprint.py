"""The data a run trained and was scored on, as its log prints it, against the reference table."""
from __future__ import annotations

from evaluator.check.context import Context, commas
from evaluator.check.findings import Findings, Rule, RuleResult, Status
from evaluator.check.rules.bpb_denominator import run_key
from evaluator.records.forensics import LogFacts, log_facts
from evaluator.records.train_log import TrainLog, seed_name
from evaluator.records.val_reference import reference_table

# shard counts that only a known-bad data preparation prints
LEAKY_TRAIN_SHARDS = {
    1499: "the preparation default that put 80% of the validation documents into training (openai/parameter-golf #2127)",
}

RULE = Rule("data_fingerprint", "Data fingerprint", 96,
            "Dataset, vocabulary, validation tokens and train shards as each log prints them, against the reference "
            "table (evaluator/records/val_reference.json). A validation token count other than the table's (a "
            "subset, or another preparation) WARNs, and so does a training set larger than the official one (the "
            "most shards the merged records used, or a count the maintainers ruled on: #1334, 143 shards instead of "
            f"80); a shard count that only a leaky preparation prints FAILs ({', '.join(map(str, LEAKY_TRAIN_SHARDS))}: "
            "#2127). A tokenizer not in the table is listed and not judged.")


def _facts_text(log: TrainLog, facts: LogFacts) -> list[tuple[str, int]]:
    name = seed_name(log)
    return [(f"{name}: {label} {fact.value if isinstance(fact.value, str) else commas(fact.value)} ('{fact.text[:120]}')",
             fact.line)
            for label, fact in (("dataset", facts.dataset), ("tokenizer", facts.tokenizer_file),
                                ("vocab_size", facts.vocab_size), ("val_tokens", facts.val_tokens),
                                ("train_shards", facts.train_shards)) if fact is not None]


def _judge(found: Findings, log: TrainLog, facts: LogFacts) -> bool:
    """Adds the run's findings; False when the table does not know its tokenizer."""
    name, shards = seed_name(log), facts.train_shards
    if shards and int(shards.value) in LEAKY_TRAIN_SHARDS:
        found.add(Status.FAIL, f"{name}: train_shards {shards.value}: {LEAKY_TRAIN_SHARDS[int(shards.value)]}",
                  log.file_name, shards.line)
    rows = reference_table().lookup(run_key(facts))
    if not rows:
        return False
    tokens = {row.val_tokens for row in rows if row.val_tokens}
    if facts.val_tokens and tokens:
        logged = int(facts.val_tokens.value)
        if logged in tokens:
            found.add(Status.PASS, f"{name}: val_tokens {commas(logged)} is the reference validation set",
                      log.file_name, facts.val_tokens.line)
        else:
            reference = max(tokens)
            found.add(Status.WARN, f"{name}: val_tokens {commas(logged)} but the reference set holds {commas(reference)} "
                                   f"({logged / reference:.4f} x): a validation set of another size",
                      log.file_name, facts.val_tokens.line)
    official = [row for row in rows if row.official_train_shards]
    if shards and official and int(shards.value) not in LEAKY_TRAIN_SHARDS:
        most = max(official, key=lambda row: row.official_train_shards)
        if int(shards.value) > most.official_train_shards:
            found.add(Status.WARN, f"{name}: train_shards {shards.value} > the official {most.official_train_shards} "
                                   f"({most.shards_source})", log.file_name, shards.line)
        else:
            found.add(Status.PASS, f"{name}: train_shards {shards.value} <= the official {most.official_train_shards}",
                      log.file_name, shards.line)
    return True


def check(ctx: Context) -> RuleResult:
    record = ctx.record
    if not record.logs:
        return RULE.skip("no train log")
    found, unknown = RULE.findings(), 0
    for log in record.logs:
        facts = log_facts(log)
        for text, line in _facts_text(log, facts):
            found.note(text, log.file_name, line)
        unknown += not _judge(found, log, facts)
    if not found.statuses:
        return found.result("the logs name no dataset the table knows" if found.evidence
                            else "the logs print no dataset, tokenizer or shard facts", Status.SKIP)
    return found.result({Status.PASS: "validation set and train shards are the official ones"
                                      + (f" ({unknown} run(s) on a tokenizer not in the table)" if unknown else ""),
                         Status.WARN: "a validation set of another size, or more train shards than the official set",
                         Status.FAIL: "a leaky data preparation"})
