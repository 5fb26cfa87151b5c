"""The records index's per-request cost with one record folder of many files: the catalog's kept listing
against listing the folder on every request (LISTING_TTL_SECONDS = 0), measured in the same run.

    python benchmarks/catalog_listing.py [--files 50000] [--requests 5]
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from evaluator.serving import catalog
from webapp.app import create_app
from webapp.settings import Settings

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--files", type=int, default=50_000)
parser.add_argument("--requests", type=int, default=5)
args = parser.parse_args()

tmp = Path(tempfile.mkdtemp())
try:
    folder = tmp / "records" / "track_x" / "2026-01-01_crowded"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# a record folder of many files\n")
    for i in range(args.files):
        (folder / f"f{i:06}.txt").write_bytes(b"")
    client = TestClient(create_app(Settings(records=[tmp / "records"], data_dir=tmp / "web",
                                            allowed_hosts=["testserver"])))

    def per_request() -> float:
        client.get("/api/records")
        started = time.perf_counter()
        for _ in range(args.requests):
            assert client.get("/api/records").status_code == 200
        return (time.perf_counter() - started) / args.requests

    kept = per_request()
    catalog.LISTING_TTL_SECONDS = 0.0
    relisted = per_request()
    print(f"{args.files:,} files: {kept * 1000:.1f} ms per request with the kept listing, {relisted * 1000:.1f} ms "
          f"listing every request: {relisted / kept:.1f}x")
finally:
    shutil.rmtree(tmp)
