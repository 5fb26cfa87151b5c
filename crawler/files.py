"""Writing a file so that a crash never leaves a half-written one under the real name."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from crawler.errors import PgolfError


class WriteError(PgolfError):
    pass


_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"))


def file_kind(mode: int) -> str:
    """What a file of this st_mode is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "of an unknown kind")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write through a temporary file beside PATH, then rename: a failed write (a full disk) is one line and
    leaves neither a half-written PATH nor the temporary file (uniquely named, so two writers never share it)."""
    path = Path(path)
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
            tmp = f.name
            f.write(data)
        os.chmod(tmp, 0o644)  # NamedTemporaryFile is private; what we write is an ordinary file to share
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def writable_folder(path: str | Path, what: str) -> Path:
    """PATH as a folder that exists and takes files, or can be created under its nearest existing ancestor:
    checked (by creating and deleting a temporary file there) before any work, so that an output nobody
    can write is one line at the start instead of a traceback at the end, and nothing is created."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise WriteError(f"{path}: {what}: {existing} is a dangling symlink")
        existing = existing.parent
    if not existing.is_dir():
        raise WriteError(f"{path}: {what}: {existing} is {file_kind(existing.stat().st_mode)}, not a folder")
    probe_folder(existing, path, what)
    return path


def probe_folder(folder: Path, target: Path, what: str) -> None:
    """Create and delete a temporary file in FOLDER: the only test of writability that holds for root and
    read-only mounts alike."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".pgolf-probe-"):
            pass
    except OSError as exc:
        raise WriteError(f"{target}: {what}: cannot write in {folder} ({exc.strerror or exc})") from None
