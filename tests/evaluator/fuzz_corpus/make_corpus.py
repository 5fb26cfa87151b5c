"""Writers for the foreign artifact formats, and the generator of this folder's bad files.

    python tests/evaluator/fuzz_corpus/make_corpus.py     # rewrites every *.ptz here

Every file here must be refused by evaluator.artifacts.loading.open_artifact with an
ArtifactError (tests/evaluator/test_foreign_artifacts.py checks that); weights are
constants so that the files stay a few kB.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import torch
import zstandard

from crawler.config import CrawlerConfig
from crawler.ptz import HEADER, expected_shapes, export_model, framed_manifest, zstd_compress
from crawler.quant import quantize_tensor

HERE = Path(__file__).resolve().parent
# a crawler small enough for quick tests, with an int8 tok_emb and an int6 crawler MLP
TINY = dict(model_dim=64, num_heads=2, num_kv_heads=1, num_flat_layers=2, num_crawler_layers=1, mlp_mult=2.0,
            crawler_mlp_mult=16.1, vocab_size=1100, bigram_vocab_size=64, bigram_dim=16, train_seq_len=64,
            eval_seq_len=64, eval_stride=32)


def tiny_config(**overrides) -> CrawlerConfig:
    return CrawlerConfig(**{**TINY, **overrides}).validate()


def crawler_state(config: CrawlerConfig, seed: int | None = 0) -> dict[str, torch.Tensor]:
    """Random weights, or constants (seed None) that compress to almost nothing."""
    g = torch.Generator().manual_seed(seed or 0)
    return {k: torch.randn(s, generator=g) * 0.3 if seed is not None else torch.full(s, 0.01 * (i % 7 + 1))
            for i, (k, s) in enumerate(expected_shapes(config).items())}


def record_extras(config: CrawlerConfig, inst_dim: int = 32, ve_dim: int = 128, seed: int | None = 0) -> dict:
    """The tensors the record's CrawlerGPT has beyond ours (flow instructions, value embeddings)."""
    g = torch.Generator().manual_seed(seed or 0)
    kv_dim = config.num_kv_heads * config.head_dim
    shapes = {"loop_inst_proj.weight": (inst_dim, config.model_dim),
              **{f"loop_inst_up.{k}.weight": (config.model_dim, inst_dim) for k in range(config.crawler_loops)},
              "ve_shared.embed.weight": (config.vocab_size, ve_dim), "ve_shared.proj.weight": (kv_dim, ve_dim),
              "ve_shared.scale": (), "ve_layer_scales.0": (1,), "ve_layer_scales.1": (1,)}
    return {k: torch.randn(s, generator=g) * 0.1 if seed is not None else torch.full(s, 0.02) for k, s in shapes.items()}


def record_obj(state: dict[str, torch.Tensor]) -> dict:
    """What the record's mixed_quantize_int6 produced: {"w": tensors, "m": meta}."""
    w, m = {}, {}
    for name, t in state.items():
        attn_or_mlp = ".mlp." in name or ".attn." in name or ".proj." in name
        if t.numel() <= 65_536:
            w[name], m[name] = t.half(), "passthrough"
        elif attn_or_mlp and t.ndim == 2:
            w[name + ".q"], w[name + ".scale"] = quantize_tensor(t, 6)
            m[name] = {"type": "int6"}
        else:
            w[name + ".q"], w[name + ".scale"] = quantize_tensor(t, 8)
            m[name] = {"type": "int8"}
    return {"w": w, "m": m}


def baseline_state(layers=3, dim=64, heads=2, kv_heads=1, mlp_mult=2, vocab=1100, seed: int | None = 0) -> dict:
    """The official baseline GPT's tensor names (tied embeddings); constants when seed is None."""
    g = torch.Generator().manual_seed(seed or 0)
    kv = kv_heads * dim // heads
    shapes = {"tok_emb.weight": (vocab, dim), "skip_weights": (layers // 2, dim)}
    for i in range(layers):
        shapes |= {f"blocks.{i}.attn.c_q.weight": (dim, dim), f"blocks.{i}.attn.c_k.weight": (kv, dim),
                   f"blocks.{i}.attn.c_v.weight": (kv, dim), f"blocks.{i}.attn.proj.weight": (dim, dim),
                   f"blocks.{i}.attn.q_gain": (heads,), f"blocks.{i}.mlp.fc.weight": (mlp_mult * dim, dim),
                   f"blocks.{i}.mlp.proj.weight": (dim, mlp_mult * dim), f"blocks.{i}.attn_scale": (dim,),
                   f"blocks.{i}.mlp_scale": (dim,), f"blocks.{i}.resid_mix": (2, dim)}
    return {k: torch.randn(s, generator=g) * 0.1 if seed is not None else torch.full(s, 0.01) for k, s in shapes.items()}


def baseline_obj(state: dict[str, torch.Tensor]) -> dict:
    """The official train_gpt.py's quantize_state_dict_int8 layout."""
    obj = {"__quant_format__": "int8_clean_per_row_v1", "quantized": {}, "scales": {}, "dtypes": {},
           "passthrough": {}, "qmeta": {}, "passthrough_orig_dtypes": {}}
    for name, t in state.items():
        if t.numel() <= 65_536:
            obj["passthrough"][name] = t.half()
            obj["passthrough_orig_dtypes"][name] = "float32"
            continue
        q, s = quantize_tensor(t, 8)
        if t.ndim == 2:
            obj["qmeta"][name] = {"scheme": "per_row", "axis": 0}
        else:  # vectors get one fp32 scale for the whole tensor
            s = (t.abs().max() / 127).float()
            q = torch.clamp(torch.round(t / s), -127, 127).to(torch.int8)
        obj["quantized"][name], obj["scales"][name], obj["dtypes"][name] = q.reshape(t.shape), s, "float32"
    return obj


def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def zstd22(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=22).compress(data)


def zstd_bomb(n_mib: int) -> bytes:
    c = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(c.compress(bytes(1 << 20)) for _ in range(n_mib)) + c.flush()


def reassemble(blob: bytes, manifest=None, payload: bytes | None = None) -> bytes:
    """Our artifact with its manifest edited or its payload replaced."""
    _, codec, m, _ = HEADER.unpack_from(blob)
    man = json.loads(zstandard.ZstdDecompressor().decompressobj().decompress(blob[HEADER.size:HEADER.size + m]))
    zm = zstd_compress(json.dumps(manifest(man) if manifest else man).encode())
    return framed_manifest(codec, zm) + (blob[HEADER.size + m:] if payload is None else payload)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("true",))  # harmless if it ran; weights_only must refuse to even try


def _deflated(archive: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def corpus(scratch: Path) -> dict[str, bytes]:
    config = tiny_config()
    tok = scratch / "tokenizer.model"
    tok.write_bytes(b"tokenizer")
    ours, ours_zstd = (export_model(crawler_state(config, seed=None), config, tok, [], scratch / f"{c}.ptz", codec=c)
                       and (scratch / f"{c}.ptz").read_bytes() for c in ("rans", "zstd"))

    def with_config(**change):
        return reassemble(ours, lambda m: {**m, "config": {**m["config"], **change}})

    def with_tensor(name, shape):
        return reassemble(ours, lambda m: {**m, "tensors": [[n, s, shape if n == name else d] for n, s, d in m["tensors"]]})

    flipped = bytearray(ours)
    flipped[-5] ^= 0xFF
    record_state = {**crawler_state(config, seed=None), **record_extras(config, seed=None)}
    record = torch_bytes(record_obj(record_state))
    bad_shape = dict(record_state, **{"flat_blocks.1.mlp.fc.weight": torch.full((100, 64), 0.01)})
    nan_state = dict(record_state, **{"smear.gate": torch.full((64,), float("nan"))})
    baseline = torch_bytes(baseline_obj(baseline_state(seed=None)))
    return {
        "empty.ptz": b"",
        "text_file.ptz": b"this is not an artifact\n",
        "ours_truncated_manifest.ptz": ours[: len(ours) // 2],
        "ours_truncated_payload.ptz": ours[:-10],
        "ours_zstd_truncated_payload.ptz": ours_zstd[:-10],
        "ours_header_only.ptz": ours[:HEADER.size],
        "ours_bit_flip.ptz": bytes(flipped),
        "ours_wrong_shape.ptz": with_tensor("flat_blocks.1.mlp.fc.weight", [100, 64]),
        "ours_wrong_vocab.ptz": with_config(vocab_size=1024),
        "ours_bad_config.ptz": with_config(num_heads=0),
        "ours_huge_config.ptz": with_config(num_crawler_layers=10 ** 9),
        "ours_manifest_not_zstd.ptz": framed_manifest(0, b"{notjson}"),
        "ours_manifest_not_json.ptz": framed_manifest(0, zstd_compress(b"{notjson}")),
        "ours_manifest_tensor_list_garbage.ptz": reassemble(ours, lambda m: {**m, "tensors": [["x", "int4", [-1]]]}),
        "ours_zstd_bomb.ptz": reassemble(ours_zstd, payload=zstd_bomb(64)),
        "ours_unknown_codec.ptz": ours[:4] + b"\x07" + ours[5:],
        "record_truncated.ptz": zstd22(record)[:-100],
        "record_trailing_junk.ptz": zstd22(record) + b"junk",
        "record_pickle_exploit.ptz": zstd22(torch_bytes({"w": {}, "m": {"x": _Exploit()}})),
        "record_deflated_entries.ptz": zstd22(_deflated(record)),
        "record_wrong_shape.ptz": zstd22(torch_bytes(record_obj(bad_shape))),
        "record_nan.ptz": zstd22(torch_bytes(record_obj(nan_state))),
        "record_not_a_dict.ptz": zstd22(torch_bytes([torch.zeros(3)])),
        "record_zstd_bomb.ptz": zstd_bomb(64),
        "baseline_unknown_quant_format.ptz": zlib.compress(torch_bytes({"__quant_format__": "int4_magic"}), 9),
        "baseline_truncated.ptz": zlib.compress(baseline, 9)[:-50],
        "baseline_zlib_bomb.ptz": zlib.compress(bytes(16 << 20), 9),
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for name, data in corpus(Path(scratch)).items():
            (HERE / name).write_bytes(data)
            print(f"{name:36s} {len(data):>8,} bytes")
