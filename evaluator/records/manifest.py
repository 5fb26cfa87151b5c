"""What a copied record folder left out, from a MANIFEST.json in one of its parent folders.

The shared test records carry data files only; MANIFEST.json lists, per folder, the files that
were not copied (train_gpt.py, tokenizers, helpers) with their byte sizes, so the checker can
still account for them instead of calling them missing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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


def find_manifest_entry(record_dir: Path, warnings: list[str]) -> ManifestEntry | None:
    for parent in list(record_dir.parents)[:_SEARCH_DEPTH]:
        manifest = parent / MANIFEST_NAME
        if not manifest.is_file():
            continue
        try:
            entries = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            warnings.append(f"{manifest}: unreadable ({exc}); ignored")
            return None
        if not isinstance(entries, list):
            warnings.append(f"{manifest}: expected a list of folders; ignored")
            return None
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("folder"), str) \
                    and _folder_matches(entry["folder"], record_dir):
                left_out = entry.get("left_out") if isinstance(entry.get("left_out"), dict) else {}
                return ManifestEntry(str(manifest), entry["folder"], entry.get("source"), entry.get("commit"),
                                     {str(k): int(v) for k, v in left_out.items() if isinstance(v, int)})
        return None
    return None
