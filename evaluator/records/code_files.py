"""The code and tokenizer files a record ships, for the size accountings.

The challenge counts "code bytes plus compressed model bytes" with all counted code in
train_gpt.py. Records differ in what they ship: a plain train_gpt.py, a minified source wrapped as
`exec(lzma.decompress(base64.b85decode(...)))`, extra helpers (.py, or C++/CUDA kernels in a
subfolder), their own tokenizer. Files named by MANIFEST.json as left out of this copy are included
with on_disk=False. A script is a wrapper only when the decodable blob is most of it: a plain source
that merely mentions lzma and b85decode is plain.
"""
from __future__ import annotations

import base64
import binascii
import lzma
import re
from dataclasses import dataclass, field
from pathlib import Path

from crawler.shipped import ENTRY_SCRIPT
from evaluator.records.untrusted_files import LOG_LIMIT, FileStat, RecordFileError, read_capped

_TOKENIZER_SUFFIXES = (".model", ".vocab")
_WRAPPER_BLOB = re.compile(rb"b85decode\(\s*b?(?:\"\"\"|'''|\"|')([^\"']+)")
_CODE_SUFFIXES = (".py", ".c", ".cc", ".cpp", ".cu", ".cuh", ".h", ".hpp")


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
    if blob is None or 2 * len(blob.group(1)) < len(data):
        return None
    try:
        # bounded: a blob that unpacks past the read limit is no source anyone ships
        decoder = lzma.LZMADecompressor()
        unwrapped = len(decoder.decompress(base64.b85decode(re.sub(rb"\s", b"", blob.group(1))), LOG_LIMIT))
    except (ValueError, lzma.LZMAError, binascii.Error):
        unwrapped = None
    return Wrapper(len(data), unwrapped)


def inventory_code(record_dir: Path, on_disk: dict[str, FileStat], left_out: dict[str, int]) -> CodeInventory:
    """on_disk: the folder's regular files (untrusted_files.list_files); symlinks never count as shipped code."""
    files = [CodeFile(name, info.size, True) for name, info in on_disk.items()]
    files += [CodeFile(name, size, False) for name, size in sorted(left_out.items()) if name not in on_disk]
    code = [f for f in files if f.path.endswith(_CODE_SUFFIXES)]
    inventory = CodeInventory()
    script = next((f for f in code if f.path == ENTRY_SCRIPT), None)
    if script is None:
        candidates = [f for f in code if "/" not in f.path and f.path.endswith(".py") and f.path.startswith("train")]
        if len(candidates) == 1:
            script, inventory.script_is_fallback = candidates[0], True
    inventory.script = script
    inventory.helpers = [f for f in code if f is not script]
    inventory.tokenizer_files = [f for f in files if f.path.endswith(_TOKENIZER_SUFFIXES)]
    if script is not None and script.on_disk:
        try:
            inventory.wrapper = _decode_wrapper(read_capped(record_dir / script.path, LOG_LIMIT).data)
        except RecordFileError:
            inventory.wrapper = None  # listed as a regular file a moment ago; the reader's warnings say the rest
    return inventory
