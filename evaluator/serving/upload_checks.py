"""An uploaded artifact, tokenizer and config checked before anything is kept: the artifact's compressed frames
measured by streaming them through the decompressor 64 KiB at a time (a 32 KB bomb costs 64 KiB of output, never
its decompressed size), then opened with the evaluator's safe reader (no unpickling of code), the tokenizer with
SentencePiece, the config as JSON or TOML of crawler settings. Every refusal is one UploadRefused line that names
the upload by its display name, never by the server's path."""
from __future__ import annotations

import contextlib
import json
import struct
import tomllib
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard

from crawler.config import ConfigError, CrawlerConfig, coerce_overrides
from crawler.errors import PgolfError, first_line
from evaluator.artifacts.container import TORCH_ZIP_MAGIC, ZSTD, detect_container

STREAM_CHUNK = 1 << 16
CONFIG_MAX_BYTES = 65_536  # a config of every crawler setting is under 2 kB
# the config settings an evaluation can apply, and the evaluator argument each one sets
CONFIG_OPTIONS = {"crawler_loops": "loops", "eval_seq_len": "seq_len", "eval_stride": "stride"}
_CONFIG_FIELDS = {f.name for f in fields(CrawlerConfig)}


class UploadRefused(PgolfError):
    """An uploaded file the service will not evaluate, in one line."""


@dataclass(frozen=True)
class UploadLimits:
    max_decompressed_bytes: int  # what the artifact's frames may decompress to, together
    max_params: int  # what the artifact may declare


@dataclass(frozen=True)
class UploadedFile:
    path: Path  # the server's temporary copy: never shown
    name: str  # the uploader's file name, shown in every message about it
    size: int


class _Window:
    """At most `size` bytes of a file from its current position, as a readable stream."""

    def __init__(self, handle: BinaryIO, size: int):
        self.handle, self.left = handle, size

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data


def _zstd_chunks(source) -> Iterator[bytes]:
    """One zstd frame's output in chunks; a corrupt frame ends where the decompressor stops (the artifact
    reader then names the fault)."""
    try:
        with zstandard.ZstdDecompressor().stream_reader(source, read_size=STREAM_CHUNK, closefd=False) as reader:
            while chunk := reader.read(STREAM_CHUNK):
                yield chunk
    except zstandard.ZstdError:
        return


def _zlib_chunks(handle: BinaryIO) -> Iterator[bytes]:
    d = zlib.decompressobj()
    try:
        while data := handle.read(STREAM_CHUNK):
            while data and not d.eof:
                yield d.decompress(data, STREAM_CHUNK)
                data = d.unconsumed_tail
    except zlib.error:
        return


def _measure(chunks: Iterator[bytes], budget: int, what: str, head: bytes = b"") -> int:
    """The bytes a frame decompresses to, refused past budget, or as soon as it does not start with head."""
    total = 0
    # closed on the way out: the decompressor and its window (up to 128 MiB for zstd) are freed here, on the
    # checking thread, not whenever the refusal's traceback is collected
    with contextlib.closing(chunks):
        for chunk in chunks:
            if total == 0 and head and not chunk.startswith(head):
                raise UploadRefused(f"{what}: decompressed data is not a torch.save zip archive")
            total += len(chunk)
            if total > budget:
                raise UploadRefused(f"{what}: decompresses to more than {budget:,} bytes (refused)")
    return total


def check_container(path: Path, cap: int, name: str) -> None:
    """Refuse an uploaded artifact whose compressed frames decompress, together, to more than cap bytes,
    or a foreign one whose frame does not hold a torch.save archive, measuring without keeping the output.
    Anything else wrong with the file is left to the artifact reader, which then stays within cap."""
    # torch loads on the first upload, not when the web process starts
    from crawler.ptz import CODECS, HEADERS, MANIFEST_CAP

    with path.open("rb") as handle:
        first = handle.read(4)
        handle.seek(0)
        _, header = HEADERS.get(first, (None, None))
        if header is not None:
            fields_ = header.unpack(handle.read(header.size).ljust(header.size, b"\0"))
            codec_id, m = fields_[1], fields_[2]  # then, in format 2, the manifest's CRC
            used = _measure(_zstd_chunks(_Window(handle, m)), MANIFEST_CAP, f"{name}: manifest")
            if codec_id < len(CODECS) and CODECS[codec_id] == "zstd":
                _measure(_zstd_chunks(handle), cap - used, f"{name}: payload")
            elif codec_id < len(CODECS):  # rans: a uint32 length, then the zstd side stream; the rest is rANS words
                raw = handle.read(4)
                if len(raw) == 4:
                    _measure(_zstd_chunks(_Window(handle, struct.unpack("<I", raw)[0])), cap - used,
                             f"{name}: side stream")
        elif (container := detect_container(first)) is not None:
            chunks = _zstd_chunks(handle) if container == ZSTD else _zlib_chunks(handle)
            _measure(chunks, cap, name, TORCH_ZIP_MAGIC)


def _named(exc: Exception, upload: UploadedFile) -> str:
    return first_line(exc).replace(str(upload.path), upload.name)


def config_options(config: UploadedFile) -> dict:
    """The evaluation options an uploaded config sets (evaluate_artifact's keyword arguments)."""
    if config.size > CONFIG_MAX_BYTES:
        raise UploadRefused(f"config {config.name}: {config.size:,} bytes, over the {CONFIG_MAX_BYTES:,}-byte limit "
                            "for a config")
    try:
        text = config.path.read_bytes().decode("utf-8")
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    # ValueError: malformed JSON or TOML, or an integer past Python's digit limit; RecursionError: deep nesting
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UploadRefused(f"config {config.name}: neither a JSON object nor TOML ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise UploadRefused(f"config {config.name}: expected a JSON object of settings")
    data = {str(k).lower(): v for k, v in data.items()}
    unknown = sorted(set(data) - _CONFIG_FIELDS)
    if unknown:
        raise UploadRefused(f"config {config.name}: unknown setting {unknown[0]!r}")
    try:
        applied = coerce_overrides({k: v for k, v in data.items() if k in CONFIG_OPTIONS})
    except ConfigError as exc:
        raise UploadRefused(f"config {config.name}: {_named(exc, config)}") from None
    return {CONFIG_OPTIONS[k]: v for k, v in applied.items()}


def check_upload(artifact: UploadedFile, tokenizer: UploadedFile | None, options: dict, limits: UploadLimits) -> str:
    """The artifact's format, once it and the tokenizer have passed the safe readers within the limits."""
    from crawler.tokenizer import check_vocab, load_tokenizer
    from evaluator.artifacts.loading import open_artifact

    check_container(artifact.path, limits.max_decompressed_bytes, artifact.name)
    try:
        loaded = open_artifact(artifact.path, loops=options.get("loops"),
                               max_decompressed_bytes=limits.max_decompressed_bytes, max_params=limits.max_params)
    except PgolfError as exc:
        raise UploadRefused(_named(exc, artifact)) from None
    window = {"eval_seq_len": options.get("seq_len"), "eval_stride": options.get("stride")}
    try:
        loaded.config.replace(**{k: v for k, v in window.items() if v is not None})
    except ConfigError as exc:
        raise UploadRefused(f"config: {exc}") from None
    if tokenizer is not None:
        try:
            check_vocab(load_tokenizer(tokenizer.path), loaded.config.vocab_size, tokenizer.name)
        except PgolfError as exc:
            raise UploadRefused(_named(exc, tokenizer)) from None
    return loaded.format
