"""A command's paths and values, checked before its work starts, so that a bad one is one line and exit 1
with nothing written, instead of a traceback (or a hang) after minutes of evaluation.

Inputs are looked at with stat() only and never opened here: opening a named pipe blocks until a
writer comes, and /dev/zero never ends. Outputs are checked by creating (and deleting) a temporary
file where the output will go, which is the only test that holds for root and read-only mounts alike.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from crawler.errors import PgolfError
from crawler.files import file_kind, probe_folder


class InputError(PgolfError):
    """A command-line path or value that cannot be used."""


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return path.stat()
    except OSError as exc:
        raise InputError(f"{path}: {what}: cannot read ({exc.strerror or exc})") from None


def input_file(path: Path, what: str) -> Path:
    """A regular file this process may read."""
    mode = _stat(path, what).st_mode
    if not stat.S_ISREG(mode):
        raise InputError(f"{path}: {what} is {file_kind(mode)}, not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: {what}: cannot read (permission denied)")
    return path


def input_dir(path: Path, what: str) -> Path:
    mode = _stat(path, what).st_mode
    if not stat.S_ISDIR(mode):
        raise InputError(f"{path}: {what} is {file_kind(mode)}, not a folder")
    return path


def output_file(path: Path, what: str) -> Path:
    """A file path that can be written: a regular file or none yet, in an existing folder that takes files."""
    if path.exists() or path.is_symlink():
        mode = path.stat().st_mode if path.exists() else 0
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: {what} is {file_kind(mode) if mode else 'a dangling symlink'}, not a file to write")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"{path}: {what}: folder {folder} does not exist")
    probe_folder(folder, path, what)
    return path


def at_least(value: int | None, minimum: int, flag: str) -> None:
    if value is not None and value < minimum:
        raise InputError(f"{flag} must be at least {minimum}, got {value}")


def device(spec: str | None) -> str | None:
    """cpu, cuda or cuda:N, refused when it names no device this machine has (None: the default)."""
    if spec is None:
        return None
    import torch  # only commands that run a model name a device; the text-only ones must start without torch

    try:
        parsed = torch.device(spec)
    except RuntimeError:
        raise InputError(f"--device {spec!r}: not a device (cpu, cuda or cuda:N)") from None
    if parsed.type not in ("cpu", "cuda"):
        raise InputError(f"--device {spec!r}: not a device (cpu, cuda or cuda:N)")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"--device {spec}: no CUDA GPU is available on this machine")
        if parsed.index is not None and parsed.index >= count:
            raise InputError(f"--device {spec}: this machine has {count} CUDA GPU{'s' if count > 1 else ''} "
                             f"(cuda:0 to cuda:{count - 1})")
    return spec


def positive_int_env(name: str, default: int, unit: str = "", environ=None) -> int:
    """A limit set by the environment variable `name` (the web app's setting of that name reaches its jobs this
    way), else default; anything but a positive whole number is refused in one line."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise InputError(f"{name} must be a positive integer{unit}, got {raw[:40]!r}")
    return int(raw)
