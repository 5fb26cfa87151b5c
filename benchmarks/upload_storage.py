"""What one upload costs the server's disk: the data dir (stored files and both SQLite databases) after one
upload of a tiny-preset artifact, against the artifact's size, and what the same artifact costs again.

    python benchmarks/upload_storage.py
"""
import shutil
import tempfile
from pathlib import Path

import torch
from fastapi.testclient import TestClient

from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.prep.prepare import prepare_data
from crawler.ptz import export_model
from webapp.app import create_app
from webapp.settings import Settings

tmp = Path(tempfile.mkdtemp())
try:
    paragraphs = [p for p in Path("README.md").read_text(encoding="utf-8").split("\n\n") if p.strip()]
    prepare_data([f"Doc {i}. " + paragraphs[i % len(paragraphs)] for i in range(100)], tmp / "data", "bench",
                 vocab_size=400, val_docs=20)
    cfg = load_config("tiny", environ={}, data_path=str(tmp / "data"), vocab_size=400)
    torch.manual_seed(0)
    model = CrawlerGPT(cfg)
    with torch.no_grad():  # trained-looking weights: zero-initialised ones would compress to nothing
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    (tmp / "train_gpt.py").write_text("print('bench')\n")
    export_model(model, cfg, tmp / "data" / "tokenizer.model", [tmp / "train_gpt.py"], tmp / "a.ptz")
    data = (tmp / "a.ptz").read_bytes()
    client = TestClient(create_app(Settings(data_dir=tmp / "web", eval_data_dir=tmp / "data",
                                            allowed_hosts=["testserver"])))

    def kept() -> int:
        return sum(p.stat().st_size for p in (tmp / "web").rglob("*") if p.is_file())

    assert client.post("/api/evaluations", files={"artifact": ("a.ptz", data)}).status_code == 202
    first = kept()
    again = client.post("/api/evaluations", files={"artifact": ("a.ptz", data),
                                                   "config": ("c.json", b'{"eval_stride": 32}')})
    assert again.status_code == 202
    print(f"artifact {len(data):,} bytes: the data dir holds {first:,} bytes after one upload ({first / len(data):.2f}x, "
          f"databases included); the same artifact with another config adds {kept() - first:,} bytes")
finally:
    shutil.rmtree(tmp)
