"""The code and tokenizer files a record ships, for the size accountings.

The challenge counts "code bytes plus compressed model bytes" with all counted code in
train_gpt.py. Records differ in what they ship: a plain train_gpt.py, a minified source wrapped as
`exec(lzma.decompress(base64.b85decode(...)))`, extra .py helpers, their own tokenizer. Files named
by MANIFEST.json as left out of this copy are included with on_disk=False.
"""
from __future__ import annotations

import base64
import binascii
import lzma
import re
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT_NAME = "train_gpt.py"
_TOKENIZER_SUFFIXES = (".model", ".vocab")
_WRAPPER_BLOB = re.compile(rb"b85decode\(\s*b?(?:\"\"\"|'''|\"|')([^\"']+)")
_SKIP_DIRS = {"__pycache__", ".git"}


@dataclass(frozen=True)
class CodeFile:
    path: str  # relative to the record folder
    bytes: int
    on_disk: bool


@dataclass(frozen=True)
class Wrapper:
    """train_gpt.py is a compressed wrapper around the real source."""
    wrapped_bytes: int  # what ships and counts
    unwrapped_bytes: int | None  # the source once decoded, when the blob could be decoded


@dataclass
class CodeInventory:
    script: CodeFile | None = None
    script_is_fallback: bool = False  # no train_gpt.py; the record's one train*.py stands in
    helpers: list[CodeFile] = field(default_factory=list)
    tokenizer_files: list[CodeFile] = field(default_factory=list)
    wrapper: Wrapper | None = None

    @property
    def helper_bytes(self) -> int:
        return sum(f.bytes for f in self.helpers)

    @property
    def tokenizer_bytes(self) -> int:
        return sum(f.bytes for f in self.tokenizer_files)


def _decode_wrapper(data: bytes) -> Wrapper | None:
    if b"lzma" not in data or b"b85decode" not in data or b"exec" not in data:
        return None
    blob = _WRAPPER_BLOB.search(data)
    unwrapped = None
    if blob:
        try:
            unwrapped = len(lzma.decompress(base64.b85decode(re.sub(rb"\s", b"", blob.group(1)))))
        except (ValueError, lzma.LZMAError, binascii.Error):
            unwrapped = None
    return Wrapper(len(data), unwrapped)


def inventory_code(record_dir: Path, left_out: dict[str, int]) -> CodeInventory:
    on_disk: dict[str, int] = {}
    for path in sorted(record_dir.rglob("*")):
        relative = path.relative_to(record_dir)
        if path.is_file() and not _SKIP_DIRS.intersection(relative.parts):
            on_disk[relative.as_posix()] = path.stat().st_size
    files = [CodeFile(name, size, True) for name, size in on_disk.items()]
    files += [CodeFile(name, size, False) for name, size in sorted(left_out.items()) if name not in on_disk]
    python = [f for f in files if f.path.endswith(".py")]
    inventory = CodeInventory()
    script = next((f for f in python if f.path == SCRIPT_NAME), None)
    if script is None:
        candidates = [f for f in python if "/" not in f.path and Path(f.path).name.startswith("train")]
        if len(candidates) == 1:
            script, inventory.script_is_fallback = candidates[0], True
    inventory.script = script
    inventory.helpers = [f for f in python if f is not script]
    inventory.tokenizer_files = [f for f in files if f.path.endswith(_TOKENIZER_SUFFIXES)]
    if script is not None and script.on_disk:
        inventory.wrapper = _decode_wrapper((record_dir / script.path).read_bytes())
    return inventory
