"""Read a multipart upload as it streams in, so the size cap and the upload token are enforced before
the body has been read in full (Starlette's form parsing would spool the whole body first).

File parts go to temporary files under the blob store's incoming/ folder, hashed on the way; on any
rejection every temporary file is deleted before the error is raised.

What the files hold is then the evaluator's to check (evaluator.service.check_upload).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from evaluator.service import first_line
from webapp.blobs import BlobStore

TEXT_FIELD_MAX_BYTES = 4096
DISPLAY_NAME_MAX = 200


class UploadRejected(Exception):
    def __init__(self, status_code: int, reason: str):
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


@dataclass
class ReceivedFile:
    field: str
    display_name: str  # shown on pages only
    path: Path  # temporary, under incoming/
    sha256: str
    size: int


@dataclass
class ReceivedForm:
    files: dict[str, ReceivedFile] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        for received in self.files.values():
            received.path.unlink(missing_ok=True)


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _display_name(raw: bytes) -> str:
    name = raw.decode("utf-8", errors="replace").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:DISPLAY_NAME_MAX] or "unnamed"


class _Part:
    def __init__(self, name: str, filename: bytes | None, store: BlobStore):
        self.name = name
        self.filename = filename
        self.text = bytearray()
        self.path: Path | None = store.new_incoming() if filename is not None else None
        self.handle: BinaryIO | None = self.path.open("wb") if self.path else None
        self.hash = hashlib.sha256()
        self.size = 0


class MultipartReceiver:
    """One upload request's parse: which fields are allowed, the cap on the whole body, the token."""

    def __init__(self, store: BlobStore, file_fields: set[str], text_fields: set[str], max_bytes: int,
                 token: str = "", token_field: str = "token"):
        self.store = store
        self.file_fields = file_fields
        self.text_fields = text_fields | ({token_field} if token else set())
        self.max_bytes = max_bytes
        self.token = token
        self.token_field = token_field
        self.form = ReceivedForm()
        self.authorised = not token
        self._part: _Part | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    async def receive(self, request: Request) -> ReceivedForm:
        try:
            return await self._receive(request)
        except BaseException:
            self._close_part(discard=True)
            self.form.discard()
            raise

    async def _receive(self, request: Request) -> ReceivedForm:
        if token_matches(bearer_token(request), self.token):
            self.authorised = True
        content_type, params = parse_options_header(request.headers.get("content-type", ""))
        if content_type != b"multipart/form-data" or b"boundary" not in params:
            raise UploadRejected(415, "send the files as multipart/form-data")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise UploadRejected(413, f"upload of {int(declared):,} bytes is over the {self.max_bytes:,}-byte limit")
        parser = MultipartParser(params[b"boundary"], callbacks={
            "on_part_begin": self._part_begin, "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end})
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > self.max_bytes:
                raise UploadRejected(413, f"upload is over the {self.max_bytes:,}-byte limit")
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise UploadRejected(400, f"malformed multipart body ({first_line(exc, 120)})") from None
        if self._part is not None:
            raise UploadRejected(400, "malformed multipart body (it ends inside a part)")
        if not self.authorised:
            raise UploadRejected(401, "this server needs an upload token")
        return self.form

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", errors="replace")
        filename = params.get(b"filename")
        if name in self.file_fields:
            if filename is None:
                raise UploadRejected(400, f"form field {name!r} must be a file")
            if name in self.form.files:
                raise UploadRejected(400, f"form field {name!r} appears twice")
            if not self.authorised:
                raise UploadRejected(401, "this server needs an upload token (a header, or a field before the files)")
        elif name in self.text_fields:
            if filename is not None:
                raise UploadRejected(400, f"form field {name!r} must be text, not a file")
            filename = None
        else:
            raise UploadRejected(400, f"unexpected form field {name[:40]!r}")
        self._part = _Part(name, filename, self.store)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        chunk = data[start:end]
        part.size += len(chunk)
        if part.handle is None:
            if part.size > TEXT_FIELD_MAX_BYTES:
                raise UploadRejected(400, f"form field {part.name!r} is longer than {TEXT_FIELD_MAX_BYTES} bytes")
            part.text += chunk
        else:
            part.hash.update(chunk)
            part.handle.write(chunk)

    def _part_end(self) -> None:
        part = self._part
        if part.handle is None:
            value = part.text.decode("utf-8", errors="replace")
            if part.name == self.token_field and self.token:
                self.authorised = self.authorised or token_matches(value, self.token)
            else:
                self.form.fields[part.name] = value
            self._part = None
            return
        # a browser sends an empty nameless part for a file input left blank: that is no file at all
        if part.size == 0 and not part.filename:
            self._close_part(discard=True)
            return
        self._close_part(discard=False)
        self.form.files[part.name] = ReceivedFile(part.name, _display_name(part.filename), part.path,
                                                  part.hash.hexdigest(), part.size)

    def _close_part(self, discard: bool) -> None:
        part, self._part = self._part, None
        if part is None or part.handle is None:
            return
        part.handle.close()
        if discard:
            part.path.unlink(missing_ok=True)
