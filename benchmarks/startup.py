"""What a reviewer waits for before any work starts: fresh-process times of the text-only commands and the web
app's first and warm requests, and the bytes a record page sends, each as a ratio to a reference measured in
the same run (`python -c pass` for the commands, a warm request for the pages).

Every command time is the median of --repeats fresh processes. Every first-request time is the median over
--repeats fresh `pgolf serve --no-worker` processes, timed from the moment the server accepts connections, so
the interpreter's own start is not counted twice. Page bytes are what goes over the wire with
`Accept-Encoding: gzip, deflate` (what Chromium sends over http): the HTML, its stylesheet and scripts, and the
charts' JSON the page fetches.

    python benchmarks/startup.py [--record DIR] [--records ROOT ...] [--repeats 5]
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
SHARED_RECORDS = REPO.parent / "shared" / "records"
CRAWLER_RECORD = SHARED_RECORDS / "track_10min_16mb" / "2026-03-30_Crawler_Leg3_8xH100"
DEMO_RECORD = REPO / "records" / "track_cpu_demo" / "2026-11-27_MicroCrawler_tiny_CPU_wiki"
PAGES = ("/records", "/leaderboard", "/overlay")


def timed_process(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode not in (0, 1):  # pgolf check exits 1 when a rule fails: still a full run
            raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[bytes, str, float]:
    """The body as sent (still compressed), its Content-Encoding and the seconds one GET took."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Accept": "text/html", "Accept-Encoding": "gzip, deflate"})
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - t0
    conn.close()
    if response.status != 200:
        raise SystemExit(f"GET {path}: HTTP {response.status}")
    return body, response.getheader("Content-Encoding", ""), seconds


class Server:
    """A fresh `pgolf serve --no-worker`, ready once it accepts connections."""

    def __init__(self, roots: list[Path]):
        self.port = free_port()
        self.data = tempfile.TemporaryDirectory(prefix="pgolf-startup-")
        argv = [sys.executable, "-m", "pgolf", "serve", "--no-worker", "--port", str(self.port),
                "--data-dir", self.data.name, *(arg for root in roots for arg in ("--records", str(root)))]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"pgolf serve exited: {self.process.stderr.read().strip()[-300:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("pgolf serve did not accept connections within 60 s")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.data.cleanup()


def page_bytes(port: int, page: str) -> dict[str, int]:
    """Bytes sent for a page and everything it loads: stylesheets, scripts, images and the charts' JSON."""
    body, encoding, _ = get(port, page)
    html = (gzip.decompress(body) if encoding == "gzip" else body).decode()
    sent = {page: len(body)}
    loads = re.findall(r'<(?:script|img)\b[^>]*\bsrc="([^"]+)"', html) + re.findall(r'\bdata-src="([^"]+)"', html) \
        + re.findall(r'<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"', html)
    for url in dict.fromkeys(loads):
        path = re.sub(r"^https?://[^/]+", "", url)
        sent[path] = len(get(port, path)[0])
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", type=Path, default=CRAWLER_RECORD if CRAWLER_RECORD.is_dir() else DEMO_RECORD,
                        help="the record folder `pgolf check` reads")
    parser.add_argument("--records", type=Path, action="append",
                        help="record roots the web app serves (default: ../shared/records and records/)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    roots = args.records or [root for root in (SHARED_RECORDS, REPO / "records") if root.is_dir()]
    py, pgolf = [sys.executable], [sys.executable, "-m", "pgolf"]

    base = timed_process(py + ["-c", "pass"], args.repeats)
    print(f"commands: median of {args.repeats} fresh processes, ratio to `python -c pass` ({base * 1000:.0f} ms)")
    for name, argv in (("python -c 'import torch'", py + ["-c", "import torch"]),
                       ("pgolf --help", pgolf + ["--help"]),
                       (f"pgolf check {args.record.name}", pgolf + ["check", str(args.record)])):
        t = timed_process(argv, args.repeats)
        print(f"  {name:<60} {t * 1000:7.0f} ms  {t / base:6.1f}x")

    record_page = "/records/" + quote(args.record.name)
    pages = (*PAGES, record_page)
    print(f"web: {', '.join(str(r) for r in roots)}; first request: median of {args.repeats} fresh servers; "
          "warm: median of 5 requests; ratio first/warm")
    first: dict[str, list[float]] = {page: [] for page in pages}
    warm: dict[str, list[float]] = {page: [] for page in pages}
    sent: dict[str, int] = {}
    for i in range(args.repeats):
        for page in pages:
            server = Server(roots)
            try:
                first[page].append(get(server.port, page)[2])
                warm[page].extend(get(server.port, page)[2] for _ in range(5))
                if i == 0 and page == record_page:
                    sent = page_bytes(server.port, page)
            finally:
                server.close()
    for page in pages:
        f, w = statistics.median(first[page]), statistics.median(warm[page])
        print(f"  {page:<60} first {f * 1000:6.0f} ms  warm {w * 1000:6.0f} ms  {f / w:6.1f}x")
    print(f"record page with its scripts, as sent (gzip): {sum(sent.values()):,} bytes")
    for path, size in sent.items():
        print(f"  {path:<60} {size:>10,}")


if __name__ == "__main__":
    main()
