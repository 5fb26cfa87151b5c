"""What every request passes before any route sees it, as one ASGI middleware:

  Host        a Host header the server does not answer to is 400 (DNS rebinding: a hostile page whose name
              resolves to 127.0.0.1 would otherwise read and drive a local server as its own origin);
  CSRF        a state-changing request whose Origin (or, without one, Referer) is another site is 403,
              before a byte of its body is read (any page a reviewer opens could otherwise queue jobs on
              their local server with a plain form POST); a request with neither header (curl, scripts) passes;
  rate        each client (by address) may start uploads_per_client_per_hour uploads per rolling hour: 429;
  headers     every response carries a Content-Security-Policy, X-Frame-Options: DENY and nosniff.
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from webapp.settings import Settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
UPLOAD_PATHS = {"/evaluations", "/api/evaluations"}
RATE_WINDOW_SECONDS = 3600.0
FORGET_CLIENTS_PAST = 10_000  # clients remembered before those idle for a whole window are dropped
# Plotly sets inline styles and injects a <style> element; every script is a file of this server
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]


def host_name(host: str) -> str:
    """A Host header's name without its port ([::1]:8000 -> ::1)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class UploadRate:
    """Upload starts per client over the last hour, in this process."""

    def __init__(self, per_hour: int):
        self.per_hour = per_hour
        self._starts: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def wait(self, client: str, now: float | None = None) -> float:
        """0 when this client may start an upload now (which is then counted), else the seconds until it may."""
        if not self.per_hour:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._starts) > FORGET_CLIENTS_PAST:  # many addresses (IPv6 makes them cheap) must not grow it
                self._starts = defaultdict(deque, {who: seen for who, seen in self._starts.items()
                                                   if seen and seen[-1] > now - RATE_WINDOW_SECONDS})
            starts = self._starts[client]
            while starts and starts[0] <= now - RATE_WINDOW_SECONDS:
                starts.popleft()
            if len(starts) >= self.per_hour:
                return starts[0] + RATE_WINDOW_SECONDS - now
            starts.append(now)
            return 0.0


class SecurityMiddleware:
    def __init__(self, app, settings: Settings):
        self.app = app
        self.hosts = settings.served_hosts
        self.rate = UploadRate(settings.uploads_per_client_per_hour)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refusal(scope)
        if refusal is not None:
            return await _refuse(scope, send, *refusal)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in SECURITY_HEADERS if name not in have)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope) -> tuple[int, str] | tuple[int, str, int] | None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            return 400, f"this server does not answer to the host {host[:80]!r}"
        if scope["method"] in SAFE_METHODS:
            return None
        source = headers.get("origin") or headers.get("referer")
        if source is not None:
            parts = urlsplit(source)
            if source == "null" or parts.netloc.lower() != host.strip().lower():
                return 403, f"cross-site request refused (from {source[:80]!r}, not this server's pages)"
        if scope["path"] in UPLOAD_PATHS and scope["method"] == "POST":
            client = (scope.get("client") or ("unknown",))[0]
            wait = self.rate.wait(client)
            if wait:
                return 429, (f"too many uploads from {client}: at most {self.rate.per_hour} an hour "
                             f"(PGOLF_UPLOADS_PER_CLIENT_PER_HOUR); the next in {math.ceil(wait)} s"), math.ceil(wait)
        return None


async def _refuse(scope, send, status: int, reason: str, retry_after: int | None = None) -> None:
    """A one-line refusal, as JSON (the pages' error page needs the app, which has not run)."""
    body = json.dumps({"detail": reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *SECURITY_HEADERS]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
