"""A record folder's files, listed and read without trusting them.

Record folders come from strangers, so nothing in one is followed or read unbounded: symlinks are
never followed (a README.md pointing at /etc/passwd is refused, not rendered), only regular files
are read (a FIFO would block, /dev/zero would never end), and every read stops at a byte limit and
says it did. A refused file is listed with the reason; the caller reports it, it never raises.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from crawler.errors import PgolfError

README_LIMIT = 256 * 1024  # real READMEs are under 60 kB; markdown rendering is the slow part
LOG_LIMIT = 8 * 1024 * 1024  # real logs are under 1 MB even with the embedded source
JSON_LIMIT = 1024 * 1024  # submission.json, MANIFEST.json, loops.json
PLOT_LIMIT = 8 * 1024 * 1024
_SKIP_DIRS = {"__pycache__", ".git"}


class RecordFileError(PgolfError):
    """A file of a record folder that is not read: a symlink, not a regular file, or unreadable."""


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int


@dataclass
class Listing:
    """The regular files under a record folder (relative POSIX paths), and what was refused."""
    files: dict[str, FileStat] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # relative path -> why it is not read

    def key(self) -> tuple:
        """What the record's reading depends on: every file's path, size and mtime."""
        return tuple((name, s.size, s.mtime_ns) for name, s in self.files.items()) + tuple(self.refused.items())


def list_files(record_dir: Path) -> Listing:
    """Walk the folder without following symlinks; lstat only, so nothing outside it is even touched."""
    listing = Listing()
    for directory, subdirs, names in os.walk(record_dir):
        here = Path(directory)
        relative_dir = here.relative_to(record_dir)
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS)
        for name in sorted(names + [d for d in subdirs if (here / d).is_symlink()]):
            relative = (relative_dir / name).as_posix()
            try:
                info = os.lstat(here / name)
            except OSError as exc:
                listing.refused[relative] = f"unreadable ({exc.strerror})"
                continue
            if stat.S_ISLNK(info.st_mode):
                listing.refused[relative] = "a symlink, not followed"
            elif not stat.S_ISREG(info.st_mode):
                listing.refused[relative] = "not a regular file"
            else:
                listing.files[relative] = FileStat(info.st_size, info.st_mtime_ns)
        # os.walk lists a symlinked folder among subdirs but does not enter it; it is refused above
        subdirs[:] = [d for d in subdirs if not (here / d).is_symlink()]
    listing.files = dict(sorted(listing.files.items()))
    return listing


@dataclass(frozen=True)
class Capped:
    data: bytes
    size: int  # of the whole file

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.size

    def text(self) -> str:
        return self.data.decode("utf-8", errors="surrogateescape")


def read_capped(path: Path, limit: int) -> Capped:
    """At most `limit` bytes of a regular file that is not a symlink; RecordFileError otherwise."""
    try:
        # O_NOFOLLOW: a symlink swapped in after the listing is refused here too; O_NONBLOCK: a FIFO does not hang
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        reason = "a symlink, not followed" if path.is_symlink() else f"unreadable ({exc.strerror})"
        raise RecordFileError(f"{path.name}: {reason}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RecordFileError(f"{path.name}: not a regular file")
        return Capped(handle.read(limit), info.st_size)


def truncation_note(name: str, capped: Capped) -> str:
    return f"{name}: truncated, only the first {len(capped.data):,} of {capped.size:,} bytes read"
