"""How well the checker reads pull requests as reviewers got them: every record folder under a root (default
../shared/prs) checked in one process, tallied by how its val_bpb claim fares (agrees / flagged / silent /
claimed only / no claim), with the folders no headline was found for, the folders the scan refused as no record,
and the ERROR rows (a crash). Run it after each change to the reader to see the figures move:

    python benchmarks/prs_reading.py [ROOT] [--list silent] [--list flagged]
"""
import argparse
import time
from pathlib import Path

from tqdm import tqdm

from evaluator.check.triage import ERROR, ClaimVerdict, Triage, iter_triage
from evaluator.records.printed import printed_claim
from evaluator.records.record import find_record_folders, load_record

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("root", type=Path, nargs="?", default=Path(__file__).resolve().parents[2] / "shared" / "prs")
parser.add_argument("--list", action="append", default=[], help="print the folders with this claim verdict "
                    "(agrees, 'one unit off', flagged, silent, 'claimed only', 'no claim', no-headline, error)")
args = parser.parse_args()

start = time.perf_counter()
scan = find_record_folders(args.root)
result = Triage(str(args.root.resolve()))
result.rows = list(tqdm(iter_triage(args.root, scan.folders), total=len(scan.folders), desc="folders", unit="folder"))
seconds = time.perf_counter() - start

rows = result.rows
errors = [row for row in rows if row.status == ERROR]
with_logs = [row for row in rows if row.claimed_bpb is not None and row.has_logs]
tally = {verdict: [row for row in rows if row.claim is verdict] for verdict in ClaimVerdict}
no_headline = [row for row in with_logs if row.headline_bpb is None]
agree = len(tally[ClaimVerdict.AGREES])
near = agree + len(tally[ClaimVerdict.ROUNDING])
print(f"{len(rows)} record folders under {args.root} in {seconds:.1f} s; {len(scan.not_records)} refused as no record; "
      f"{len(errors)} crashed")
print(f"claim a val_bpb and have logs: {len(with_logs)}; agree {agree} ({100 * agree / max(len(with_logs), 1):.1f}%), "
      f"one unit off (WARN) {len(tally[ClaimVerdict.ROUNDING])}, so within rounding {near} "
      f"({100 * near / max(len(with_logs), 1):.1f}%); flagged {len(tally[ClaimVerdict.FLAGGED])}, silent {len(tally[ClaimVerdict.SILENT])}, "
      f"no headline {len(no_headline)}")
print(f"claimed only (no log): {len(tally[ClaimVerdict.CLAIMED_ONLY])}; no claim: {len(tally[ClaimVerdict.NO_CLAIM])}")
# why each flagged claim is not the headline, by what the logs print (records.printed): the first line printing it
reasons = {"one run's value beside the mean": "BPB alone", "another metric kind": "another metric kind",
           "a periodic validation": "periodic validation", "a run set aside": "a run set aside"}
why_flagged: dict[str, int] = {}
for row in tally[ClaimVerdict.FLAGGED]:
    record = load_record(Path(result.root) / row.folder)
    hits = printed_claim(record, record.submission.numbers["val_bpb"])
    label = next((name for name, words in reasons.items() if hits and words in hits[0].why_not),
                 "printed elsewhere (no run's score line)" if hits else "printed in no log")
    why_flagged[label] = why_flagged.get(label, 0) + 1
print("flagged, by where the claimed number is printed: "
      + "; ".join(f"{name} {n}" for name, n in sorted(why_flagged.items(), key=lambda item: -item[1])))
lists = {**{verdict.value: found for verdict, found in tally.items()}, "no-headline": no_headline, "error": errors}
for name in args.list:
    for row in lists.get(name, []):
        print(f"  {name}: {row.folder}  headline {row.headline_bpb}  claimed {row.claimed_bpb}  {row.error or ''}")
for folder in scan.not_records:
    print(f"  refused: {folder}")
