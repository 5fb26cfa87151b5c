"""Uploaded files on disk, named by their SHA-256 only: a user's file name never becomes a path.

An upload streams into a temporary file under incoming/ and moves to blobs/<aa>/<sha256> once it has
been checked; a rejected upload's temporary file is deleted, so nothing is left behind. Each upload is
stored once: with the SQLite queue (one machine) here only; with Redis in the database only
(tables.StoredFile), from which a worker on another machine writes what it lacks here, checking the hash.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# an upload still in incoming/ after this long was cut off by a crash; no live upload takes an hour
ABANDONED_UPLOAD_SECONDS = 3600


class BlobStore:
    def __init__(self, data_dir: Path):
        self.blobs = data_dir / "blobs"
        self.incoming = data_dir / "incoming"

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
        return self.blobs / sha256[:2] / sha256

    def new_incoming(self) -> Path:
        """An empty temporary file for an upload in progress."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.incoming, prefix="upload-")
        os.close(fd)
        return Path(name)

    def sweep_incoming(self) -> None:
        """Delete uploads a crashed process left half-written."""
        if not self.incoming.is_dir():
            return
        cutoff = time.time() - ABANDONED_UPLOAD_SECONDS
        for leftover in self.incoming.iterdir():
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink(missing_ok=True)

    def keep(self, incoming: Path, sha256: str) -> Path:
        """Move a checked upload into place; a file already stored under that hash is kept as it is."""
        target = self.path(sha256)
        if target.exists():
            incoming.unlink(missing_ok=True)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(incoming, target)
        return target

    def local_copy(self, sha256: str, load: Callable[[], bytes]) -> Path:
        """The stored file's path on this machine, written from load() first when it is not here yet."""
        target = self.path(sha256)
        if target.exists():
            return target
        content = load()
        if not content:
            raise ValueError(f"stored file {sha256[:12]}: not in this machine's data dir, which holds the only copy "
                             "with the SQLite queue (workers on other machines need PGOLF_QUEUE=redis)")
        if hashlib.sha256(content).hexdigest() != sha256:
            raise ValueError(f"stored file {sha256[:12]}: its bytes do not match its hash")
        incoming = self.new_incoming()
        incoming.write_bytes(content)
        return self.keep(incoming, sha256)
