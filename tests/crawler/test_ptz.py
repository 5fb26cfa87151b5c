import hashlib
import json
import math
import os
import struct

import numpy as np
import pytest
import torch
import zstandard

from crawler import model as model_module
from crawler import ptz, rans
from crawler.config import CrawlerConfig, load_config
from crawler.files import WriteError
from crawler.model import CrawlerGPT
from crawler.ptz import (CODECS, HEADER, LEGACY_HEADER, LEGACY_MAGIC, ArtifactError, export_model, framed_manifest,
                         load_artifact, read_artifact, zstd_compress)
from crawler.quant import block_matrix_bits, dequantize_state_dict, quantize_state_dict
from evaluator.artifacts.loading import open_artifact

# Small enough to be quick, big enough that tok_emb is int8 and the crawler MLP int6 (> 65,536 elements each).
SMALL = dict(model_dim=64, num_heads=2, num_kv_heads=1, num_flat_layers=2, num_crawler_layers=1, mlp_mult=2.0,
             crawler_mlp_mult=17.0, vocab_size=1100, bigram_vocab_size=64, bigram_dim=16, train_seq_len=64,
             eval_seq_len=64, eval_stride=32)


def small_config(**overrides) -> CrawlerConfig:
    return CrawlerConfig(**{**SMALL, **overrides}).validate()


def random_state(config: CrawlerConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) * 0.3 for k, shape in ptz.expected_shapes(config).items()}


@pytest.fixture
def files(tmp_path):
    tok = tmp_path / "tokenizer.model"
    tok.write_bytes(b"not really a tokenizer, only hashed")
    code = [tmp_path / "a.py", tmp_path / "b.py"]
    code[0].write_text("print('a')\n")
    code[1].write_text("x = 1\n" * 10)
    return tok, code


def write(tmp_path, files, config=None, sd=None, codec=None, name="m.ptz"):
    config = config or small_config()
    sd = random_state(config) if sd is None else sd
    out = tmp_path / name
    return out, export_model(sd, config, files[0], files[1], out, codec=codec), sd


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_is_bit_identical(tmp_path, files, codec):
    config = small_config()
    out, info, sd = write(tmp_path, files, config, codec=codec)
    loaded_cfg, state, manifest = load_artifact(out)
    assert loaded_cfg == config
    expected = dequantize_state_dict(quantize_state_dict(sd))
    assert state.keys() == expected.keys()
    for name in expected:
        assert state[name].dtype == torch.float32 and torch.equal(state[name], expected[name]), name
    schemes = {name: scheme for name, scheme, _ in manifest["tensors"]}
    assert schemes["tok_emb.weight"] == "int8" and schemes["crawler_blocks.0.mlp.fc.weight"] == "int6"
    assert manifest["codec"] == codec == info["codec"]
    assert manifest["tokenizer_sha256"] == hashlib.sha256(files[0].read_bytes()).hexdigest()
    code = b"".join(f.read_bytes() for f in files[1])
    assert manifest["code_sha256"] == hashlib.sha256(code).hexdigest() and info["code_bytes"] == len(code)
    assert info["model_bytes"] == out.stat().st_size == manifest["model_bytes"]
    assert info["total_bytes"] == info["model_bytes"] + info["code_bytes"]
    assert info["manifest_bytes"] + info["payload_bytes"] == info["model_bytes"]


def test_manifest_is_small(tmp_path, files):
    # the tiny preset has leg3's tensor list (56 tensors) and its full config: the manifest's real cost
    config = load_config("tiny")
    _, info, _ = write(tmp_path, files, config, sd=random_state(config))
    assert info["tensors"] == 56
    assert info["manifest_bytes"] < 1500, info  # header + compressed manifest, well under 4 KB
    assert info["manifest_json_bytes"] < 6000


def test_rans_beats_zstd_on_gaussian_weights(tmp_path, files):
    sizes = {c: write(tmp_path, files, codec=c, name=f"{c}.ptz")[1]["payload_bytes"] for c in CODECS}
    assert sizes["rans"] < sizes["zstd"]


def test_end_to_end_with_the_model(tmp_path, files):
    config = small_config(loop_inst_dim=8, loop_rope_scales=(1.0, 2.0, 4.0))
    torch.manual_seed(0)
    model = CrawlerGPT(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    out = tmp_path / "e2e.ptz"
    export_model(model, config, files[0], files[1], out)
    loaded_cfg, state, _ = load_artifact(out)
    assert loaded_cfg.loop_rope_scales == (1.0, 2.0, 4.0) and loaded_cfg.loop_inst_dim == 8
    reloaded = CrawlerGPT(loaded_cfg)
    reloaded.load_state_dict(state)  # strict: every name and shape
    expected = dequantize_state_dict(quantize_state_dict(model.state_dict()))
    for name, t in reloaded.state_dict().items():
        assert torch.equal(t, expected[name]), name
    ids = torch.randint(0, config.vocab_size, (2, 16))
    assert reloaded(ids).shape == (2, 16, config.vocab_size)


def test_qat_int8_crawler_exports_int8(tmp_path, files):
    config = small_config(qat_crawler_bits=8)
    out, _, sd = write(tmp_path, files, config)
    _, qsd, _ = read_artifact(out)
    assert qsd["crawler_blocks.0.mlp.fc.weight"].scheme == "int8"
    expected = dequantize_state_dict(quantize_state_dict(sd, block_matrix_bits(0, 8)))
    assert torch.equal(load_artifact(out)[1]["crawler_blocks.0.mlp.fc.weight"], expected["crawler_blocks.0.mlp.fc.weight"])


@pytest.mark.parametrize("lanes", [1, 7, 64])
def test_rans_round_trip_with_several_tables(lanes):
    rng = np.random.default_rng(lanes)
    counts = [0, 5, 1000, 33]
    freq = np.zeros((4, 255), np.uint64)
    sym, tid = [], []
    for t, n in enumerate(counts):
        alphabet = 63 if t % 2 else 255
        s = np.clip(rng.normal(alphabet // 2, 3 + 10 * t, n).round(), 0, alphabet - 1).astype(np.uint8)
        freq[t, :alphabet] = rans._normalize(np.bincount(s, minlength=alphabet))
        sym.append(s)
        tid.append(np.full(n, t, np.uint16))
    sym, tid = np.concatenate(sym), np.concatenate(tid)
    states, words = rans.rans_encode(sym, tid, freq, lanes)
    assert np.array_equal(rans.rans_decode(states, words.astype(np.uint64), tid, freq, "x"), sym)
    with pytest.raises(ArtifactError, match="rANS"):
        rans.rans_decode(states, words[:-1].astype(np.uint64), tid, freq, "x")


def test_export_failure_writes_nothing(tmp_path, files, monkeypatch):
    config = small_config()
    out, _, _ = write(tmp_path, files, config)
    before = out.read_bytes()
    bad = random_state(config)
    bad["tok_emb.weight"] = torch.zeros(1000, 64)
    with pytest.raises(ArtifactError, match="wrong vocabulary"):
        export_model(bad, config, files[0], files[1], out)
    with pytest.raises(ArtifactError, match="unknown codec"):
        export_model(random_state(config), config, files[0], files[1], out, codec="gzip")
    with pytest.raises(ArtifactError, match="tokenizer"):
        export_model(random_state(config), config, tmp_path / "missing.model", files[1], out)

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(WriteError, match="No space left"):
        export_model(random_state(config), config, files[0], files[1], out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.py", "b.py", "m.ptz", "tokenizer.model"])
    with pytest.raises(WriteError, match="cannot write"):
        export_model(random_state(config), config, files[0], files[1], tmp_path / "no" / "dir.ptz")


def rewrite(path, manifest=None, payload=None, codec_id=None):
    """Re-assemble an artifact with a changed manifest or payload (to make wrong-but-well-formed files)."""
    blob = path.read_bytes()
    _, cid, m, _ = HEADER.unpack_from(blob)
    man = json.loads(zstandard.ZstdDecompressor().decompressobj().decompress(blob[HEADER.size:HEADER.size + m]))
    man = manifest(man) if manifest else man
    zm = zstd_compress((man if isinstance(man, str) else json.dumps(man)).encode())  # str: raw JSON text
    body = payload if payload is not None else blob[HEADER.size + m:]
    path.write_bytes(framed_manifest(cid if codec_id is None else codec_id, zm) + body)
    return path


def test_wrong_shape_and_wrong_vocab(tmp_path, files):
    out, _, _ = write(tmp_path, files)

    def shape(man):
        for e in man["tensors"]:
            if e[0] == "flat_blocks.1.attn.c_k.weight":
                e[2] = [64, 64]
        return man

    with pytest.raises(ArtifactError, match="wrong shape: flat_blocks.1.attn.c_k.weight"):
        load_artifact(rewrite(out, shape))
    out, _, _ = write(tmp_path, files, name="v.ptz")

    def vocab(man):
        man["config"]["vocab_size"] = 1024
        return man

    with pytest.raises(ArtifactError, match="wrong vocabulary"):
        load_artifact(rewrite(out, vocab))


@pytest.mark.parametrize("codec", CODECS)
def test_truncated_and_corrupt(tmp_path, files, codec):
    out, _, _ = write(tmp_path, files, codec=codec)
    blob = out.read_bytes()
    for cut in (0, 3, HEADER.size, HEADER.size + 20, len(blob) // 2, len(blob) - 1):
        out.write_bytes(blob[:cut])
        with pytest.raises(ArtifactError) as e:
            load_artifact(out)
        assert str(out) in str(e.value) and "\n" not in str(e.value)
    for pos in (len(blob) - 3, len(blob) - 2000, len(blob) // 2):
        bad = bytearray(blob)
        bad[pos] ^= 0x5A
        out.write_bytes(bytes(bad))
        with pytest.raises(ArtifactError):
            load_artifact(out)
    out.write_bytes(blob + b"\0")
    with pytest.raises(ArtifactError):
        load_artifact(out)


def test_bad_header_and_manifest(tmp_path, files):
    out, _, _ = write(tmp_path, files)
    blob = out.read_bytes()
    out.write_bytes(b"PK\x03\x04" + blob[4:])
    with pytest.raises(ArtifactError, match="not a pgolf artifact"):
        load_artifact(out)
    out.write_bytes(blob[:4] + b"\x09" + blob[5:])
    with pytest.raises(ArtifactError, match="unknown codec id 9"):
        load_artifact(out)
    zm = zstd_compress(b"{not json")
    out.write_bytes(framed_manifest(0, zm))
    with pytest.raises(ArtifactError, match="not JSON"):
        load_artifact(out)
    zm = zstd_compress(b'{"format_version": 1}')
    out.write_bytes(framed_manifest(0, zm))
    with pytest.raises(ArtifactError, match="malformed manifest"):
        load_artifact(out)
    for change, match in (({"num_heads": 0}, "bad config"), ({"warp_drive": True}, "bad config"),
                          ({"mlp_mult": float("inf")}, "non-finite number Infinity"), ({"num_flat_layers": 10 ** 9}, "1000000000")):
        out.write_bytes(blob)
        with pytest.raises(ArtifactError, match=match):
            load_artifact(rewrite(out, lambda m, change=change: {**m, "config": {**m["config"], **change}}))


def test_zstd_bomb_is_refused(tmp_path, files):
    out, _, _ = write(tmp_path, files, codec="zstd")
    c = zstandard.ZstdCompressor(level=3).compressobj()
    bomb = b"".join(c.compress(bytes(1 << 20)) for _ in range(64)) + c.flush()  # 64 MiB of zeros in ~2 kB
    assert len(bomb) < 10_000
    rewrite(out, payload=bomb)
    with pytest.raises(ArtifactError, match="refused"):
        load_artifact(out)
    zm = zstd_compress(bytes(2 << 20))  # a 2 MiB manifest: over the 1 MiB manifest cap
    out.write_bytes(framed_manifest(0, zm))
    with pytest.raises(ArtifactError, match="refused"):
        load_artifact(out)
    out2, _, _ = write(tmp_path, files, name="cap.ptz")
    with pytest.raises(ArtifactError, match="cap"):
        load_artifact(out2, max_decompressed_bytes=50_000)


def test_rans_payload_errors(tmp_path, files):
    out, _, _ = write(tmp_path, files, codec="rans")
    blob = out.read_bytes()
    _, _, m, _ = HEADER.unpack_from(blob)
    payload = blob[HEADER.size + m:]
    (k,) = struct.unpack_from("<I", payload)
    lanes_at = 4 + k
    for bad, match in ((payload[:lanes_at] + struct.pack("<H", 0) + payload[lanes_at + 2:], "rANS"),
                       (payload[:lanes_at + 2] + b"\0\0\0\0" + payload[lanes_at + 6:], "rANS states"),
                       (struct.pack("<I", 10 ** 8) + payload[4:], "truncated")):
        rewrite(out, payload=bad)
        with pytest.raises(ArtifactError, match=match):
            load_artifact(out)


def test_manifest_checksum_catches_every_flip(tmp_path, files):
    out, _, _ = write(tmp_path, files)
    blob = out.read_bytes()
    _, _, m, _ = HEADER.unpack_from(blob)
    for pos in range(HEADER.size, HEADER.size + m):  # every byte of the manifest frame, one bit each
        bad = bytearray(blob)
        bad[pos] ^= 1 << (pos % 8)
        out.write_bytes(bytes(bad))
        with pytest.raises(ArtifactError, match="manifest checksum mismatch"):
            load_artifact(out)


@pytest.mark.parametrize("change,match", [
    (lambda m: {**m, "code_bytes": -10 ** 12}, "code_bytes"),
    (lambda m: json.dumps({**m, "code_bytes": 7}).replace('"code_bytes": 7', '"code_bytes": ' + "9" * 5000),
     "not JSON"),  # beyond Python's int-string limit: one line, not a traceback
    (lambda m: {**m, "config": {**m["config"], "crawler_loops": 1_000_000}}, "crawler_loops = 1000000 is outside"),
    (lambda m: {**m, "config": {**m["config"], "model_dim": 1e308}}, "model_dim"),
    (lambda m: {**m, "config": {**m["config"], "rope_base": float("nan")}}, "not JSON"),
    (lambda m: {**m, "config": {**m["config"], "logit_softcap": float("inf")}}, "not JSON"),
    (lambda m: {**m, "code_bytes": True}, "malformed manifest"),  # a boolean is not 1 byte of code
    (lambda m: {**m, "config": {**m["config"], "crawler_loops": True}}, "crawler_loops: expected int, got True"),
    (lambda m: {**m, "config": {**m["config"], "crawler_loops": 10 ** 400}},
     "crawler_loops = an integer of 401 digits is outside"),  # once an OverflowError in the message's formatting
    (lambda m: {**m, "config": {**m["config"], "mlp_mult": 10 ** 400}}, "cannot read an integer of 401 digits"),
    (lambda m: {**m, "config": {**m["config"], "rope_dims": 2}}, "rope_dims must be at least 4"),
])
def test_hostile_manifest_values(tmp_path, files, change, match):
    out, _, _ = write(tmp_path, files)
    with pytest.raises(ArtifactError, match=match) as e:
        load_artifact(rewrite(out, change))
    assert "\n" not in str(e.value) and str(out) in str(e.value)


def test_non_finite_scale_is_refused(tmp_path, files):
    config = small_config()
    sd = random_state(config)
    out, _, _ = write(tmp_path, files, config, sd, codec="zstd")
    qsd = quantize_state_dict(sd)
    qsd["tok_emb.weight"].scale[3] = float("nan")
    canonical = ptz._canonical(qsd)
    rewrite(out, lambda m: {**m, "crc32": __import__("zlib").crc32(canonical)}, payload=zstd_compress(canonical))
    with pytest.raises(ArtifactError, match="tok_emb.weight has non-finite values"):
        load_artifact(out)


def _old_apply_rotary(x, cos, sin):
    # the format-1 model's rotation (by +angle), kept here as the oracle the conversion must reproduce
    half = cos.size(-1)
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest), dim=-1)


def test_format_1_artifacts_score_as_before(tmp_path, files, monkeypatch):
    config = small_config(rope_base=22081.8, rope_ntk_len=0, crawler_mlp_mult=2.0)
    sd = random_state(config)
    out, _, _ = write(tmp_path, files, config, sd)
    blob = out.read_bytes()
    _, cid, m, _ = HEADER.unpack_from(blob)
    man = json.loads(zstandard.ZstdDecompressor().decompressobj().decompress(blob[HEADER.size:HEADER.size + m]))
    man["format_version"] = 1
    del man["config"]["rope_ntk_len"]  # format 1 had no such field: its base was fixed at every length
    zm = zstd_compress(json.dumps(man).encode())
    old = tmp_path / "old.ptz"
    old.write_bytes(LEGACY_HEADER.pack(LEGACY_MAGIC, cid, len(zm)) + zm + blob[HEADER.size + m:])

    loaded = open_artifact(old)  # crawler.ptz reads format 1 as stored; the evaluator turns its RoPE direction
    cfg, state, manifest = loaded.config, loaded.state_dict, loaded.manifest
    assert cfg == config and manifest["format_version"] == 1
    ids = torch.randint(0, config.vocab_size, (2, 64), generator=torch.Generator().manual_seed(0))
    new_model = CrawlerGPT(cfg).eval()
    new_model.load_state_dict(state)
    with torch.no_grad():
        now = new_model(ids)
        monkeypatch.setattr(model_module, "apply_rotary", _old_apply_rotary)
        old_model = CrawlerGPT(cfg).eval()
        old_model.load_state_dict(dequantize_state_dict(quantize_state_dict(sd)))
        before = old_model(ids)
    assert torch.equal(now, before)
    assert not torch.equal(state["flat_blocks.0.attn.c_q.weight"], old_model.state_dict()["flat_blocks.0.attn.c_q.weight"])


def test_declared_parameters_past_the_cap_are_refused_before_decoding(tmp_path, files):
    # the manifest's shapes are counted first: 2^31 x 64 parameters in a file of a few kB would otherwise be
    # decoded (a rANS stream of one repeated symbol makes such a file valid, and gigabytes in memory)
    out, _, _ = write(tmp_path, files)
    params = sum(math.prod(shape) for shape in ptz.expected_shapes(small_config()).values())
    with pytest.raises(ArtifactError, match=f"declares {params:,} parameters, more than the 1,000 allowed "
                                            r"\(PGOLF_MAX_PARAMS\)"):
        load_artifact(out, max_params=1000)
    huge = lambda m: {**m, "tensors": [[m["tensors"][0][0], m["tensors"][0][1], [2 ** 31 - 1, 64]],
                                       *m["tensors"][1:]]}
    with pytest.raises(ArtifactError, match="parameters, more than the 33,554,432 allowed"):
        load_artifact(rewrite(out, huge))
