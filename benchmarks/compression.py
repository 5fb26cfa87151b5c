"""Bytes of the same quantised weights under each way of storing them, against the entropy limit.

    python benchmarks/compression.py                        # leg3-shaped synthetic weights (default)
    python benchmarks/compression.py --weights init         # leg3 CrawlerGPT at initialisation
    python benchmarks/compression.py --checkpoint runs/x/final_model.safetensors --config runs/x/config.json

Rows:
  (a) record style   torch.save({"w": q/scale/passthrough, "m": meta}) + zstd-22, as PR #1140 wrote it
  (b) ours, CODEC    the whole .ptz file (header + manifest + payload) for every codec we write
  candidates         lossless variants measured but not in the format (lzma; zstd on grouped,
                     byte-split streams), to show what the chosen codec is up against
  (c) entropy limit  zero-order entropy of the int6 symbols, the int8 symbols (one histogram per
                     scheme) and the float16 words (row scales and fp16 tensors, one histogram):
                     the floor for a coder that codes each symbol alone from global statistics

Synthetic weights: every matrix that gets quantised is Gaussian with per-row standard deviation
0.13 * exp(0.3 * N(0, 1)) (a row-scale mixture, heavier-tailed than one Gaussian); 0.13 is set so
that (a) lands at the record's own 8.66 MB. Small tensors are N(0, 0.1^2) (+1 for *_scale).
"""
from __future__ import annotations

import argparse
import io
import json
import lzma
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zstandard
from safetensors.torch import load_file

from crawler.config import CrawlerConfig, config_from_dict, load_config
from crawler.model import CrawlerGPT
from crawler.ptz import CODECS, _canonical, expected_shapes, export_model, load_artifact
from crawler.quant import QTensor, block_matrix_bits, quantize_state_dict


def synthetic_state(config: CrawlerConfig, std: float = 0.13, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in expected_shapes(config).items():
        if len(shape) == 2 and shape[0] * shape[1] > 65_536:
            sd[name] = torch.randn(shape, generator=g) * std * torch.exp(0.3 * torch.randn(shape[0], 1, generator=g))
        else:
            sd[name] = torch.randn(shape, generator=g) * 0.1 + (1.0 if name.endswith("_scale") else 0.0)
    return sd


def record_style_bytes(qsd: dict[str, QTensor]) -> int:
    w, m = {}, {}
    for name, qt in qsd.items():
        if qt.scheme == "fp16":
            w[name], m[name] = qt.data, "passthrough"
        else:
            w[name + ".q"], w[name + ".scale"], m[name] = qt.data, qt.scale, {"type": qt.scheme}
    buf = io.BytesIO()
    torch.save({"w": w, "m": m}, buf)
    return len(zstandard.ZstdCompressor(level=22).compress(buf.getvalue()))


def entropy_bytes(symbols: np.ndarray, alphabet: int) -> float:
    counts = np.bincount(symbols.astype(np.int64), minlength=alphabet)
    counts = counts[counts > 0].astype(np.float64)
    return float(-(counts * np.log2(counts / counts.sum())).sum() / 8)


def streams(qsd: dict[str, QTensor]) -> dict[str, np.ndarray]:
    """The symbols by kind: int6 and int8 q (as unsigned bytes), float16 words (scales, then fp16 tensors)."""
    out = {}
    for scheme in ("int6", "int8"):
        parts = [qt.data.numpy().ravel().view(np.uint8) for qt in qsd.values() if qt.scheme == scheme]
        out[scheme] = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    halves = [qt.scale.numpy().view(np.uint16) for qt in qsd.values() if qt.scale is not None]
    halves += [qt.data.numpy().ravel().view(np.uint16) for qt in qsd.values() if qt.scheme == "fp16"]
    out["fp16"] = np.concatenate(halves)
    return out


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", choices=("synthetic", "init"), default="synthetic")
    ap.add_argument("--preset", default="leg3")
    ap.add_argument("--checkpoint", type=Path, help="float state dict (.safetensors) to quantise instead")
    ap.add_argument("--config", type=Path, help="config.json of the checkpoint (default: --preset)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()

    config = config_from_dict(json.loads(args.config.read_text())) if args.config else load_config(args.preset)
    if args.checkpoint:
        sd, source = load_file(str(args.checkpoint)), f"checkpoint {args.checkpoint}"
    elif args.weights == "init":
        torch.manual_seed(0)
        sd, source = CrawlerGPT(config).state_dict(), f"{args.preset} CrawlerGPT at initialisation"
    else:
        sd, source = synthetic_state(config), f"{args.preset}-shaped synthetic weights (row-scale Gaussian mixture, std 0.13)"
    qsd = quantize_state_dict(sd, block_matrix_bits(config.qat_flat_bits, config.qat_crawler_bits))
    s = streams(qsd)
    limit = entropy_bytes(s["int6"], 256) + entropy_bytes(s["int8"], 256) + entropy_bytes(s["fp16"], 65536)
    print(f"weights: {source}")
    print(f"params {sum(t.numel() for t in sd.values()):,}: int6 {len(s['int6']):,}, int8 {len(s['int8']):,}, "
          f"float16 words {len(s['fp16']):,} (scales + fp16 tensors); raw tensors {len(_canonical(qsd)):,} bytes")

    rows = [("(a) record style: torch.save + zstd-22", *timed(lambda: record_style_bytes(qsd)), None)]
    with tempfile.TemporaryDirectory() as d:
        tok = Path(d) / "tokenizer.model"
        tok.write_bytes(b"tokenizer")
        for codec in CODECS:
            out = Path(d) / f"{codec}.ptz"
            info, t_enc = timed(lambda out=out, codec=codec: export_model(sd, config, tok, [], out, codec=codec))
            _, t_dec = timed(lambda out=out: load_artifact(out))
            rows.append((f"(b) ours, codec {codec} (whole file)", info["model_bytes"], t_enc, t_dec))
        manifest_bytes = info["manifest_bytes"]
    raw = _canonical(qsd)
    z22 = zstandard.ZstdCompressor(level=22)
    rows.append(("candidate: lzma -9e, canonical stream", *timed(lambda: len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))), None))
    split = (s["fp16"] & 0xFF).astype(np.uint8).tobytes() + (s["fp16"] >> 8).astype(np.uint8).tobytes()
    rows.append(("candidate: zstd-22, grouped streams + fp16 byte planes",
                 *timed(lambda: sum(len(z22.compress(b)) for b in (s["int6"].tobytes(), s["int8"].tobytes(), split) if b)), None))
    rows.append(("(c) zero-order entropy limit", round(limit), None, None))

    print(f"manifest (header + compressed JSON): {manifest_bytes:,} bytes\n")
    print(f"{'':58s} {'bytes':>12s} {'/ limit':>8s} {'encode s':>9s} {'decode s':>9s}")
    for name, size, t_enc, t_dec in rows:
        enc = f"{t_enc:9.1f}" if t_enc is not None else " " * 9
        dec = f"{t_dec:9.1f}" if t_dec is not None else " " * 9
        print(f"{name:58s} {size:>12,} {size / limit:8.4f} {enc} {dec}")
    if args.json:
        args.json.write_text(json.dumps({"weights": source, "entropy_limit": limit, "manifest_bytes": manifest_bytes,
                                         "rows": [{"name": r[0], "bytes": r[1], "encode_s": r[2], "decode_s": r[3]}
                                                  for r in rows]}, indent=1))


if __name__ == "__main__":
    main()
