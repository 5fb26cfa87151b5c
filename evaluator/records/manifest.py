"""What a copied record folder left out, from a MANIFEST.json in one of its parent folders.

The shared test records carry data files only; MANIFEST.json lists, per folder, the files that
were not copied (train_gpt.py, tokenizers, helpers) with their byte sizes, so the checker can
still account for them instead of calling them missing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from evaluator.records import safe_json
from evaluator.records.untrusted_files import JSON_LIMIT, RecordFileError, read_capped

MANIFEST_NAME = "MANIFEST.json"
_SEARCH_DEPTH = 4


@dataclass(frozen=True)
class ManifestEntry:
    manifest: str  # path of the MANIFEST.json
    folder: str  # the folder as the manifest names it
    source: str | None
    commit: str | None
    left_out: dict[str, int] = field(default_factory=dict)


def _folder_matches(named: str, record_dir: Path) -> bool:
    named_parts = Path(named).parts
    return bool(named_parts) and tuple(record_dir.parts[-len(named_parts[-2:]):]) == named_parts[-2:]


def manifest_candidates(record_dir: Path) -> list[Path]:
    """Where a MANIFEST.json for this folder may be, nearest first."""
    return [parent / MANIFEST_NAME for parent in list(record_dir.parents)[:_SEARCH_DEPTH]]


@lru_cache(maxsize=64)
def _read_manifest(path: Path, size: int, mtime_ns: int) -> list | str:
    """The manifest's entries, or why they cannot be read; size and mtime key the cache (one read per change)."""
    try:
        # a copy of the official records lists ~60 folders in a few kB; 8x the JSON limit leaves room
        capped = read_capped(path, 8 * JSON_LIMIT)
        if capped.truncated:
            raise RecordFileError(f"{MANIFEST_NAME}: over {8 * JSON_LIMIT:,} bytes")
        entries = safe_json.loads(capped.text(), MANIFEST_NAME)
    except (RecordFileError, safe_json.JsonError) as exc:
        return str(exc)
    return entries if isinstance(entries, list) else "expected a list of folders"


def find_manifest_entry(record_dir: Path, warnings: list[str]) -> ManifestEntry | None:
    for manifest in manifest_candidates(record_dir):
        try:
            info = os.stat(manifest)
        except OSError:
            continue
        entries = _read_manifest(manifest, info.st_size, info.st_mtime_ns)
        if isinstance(entries, str):
            warnings.append(f"{manifest}: {entries}; ignored")
            return None
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("folder"), str) \
                    and _folder_matches(entry["folder"], record_dir):
                left_out = entry.get("left_out") if isinstance(entry.get("left_out"), dict) else {}
                return ManifestEntry(str(manifest), entry["folder"], entry.get("source"), entry.get("commit"),
                                     {str(k): int(v) for k, v in left_out.items() if isinstance(v, int)})
        return None
    return None
