"""Our `.ptz` artifact: a small manifest and the quantised tensors, loaded without pickle.

Byte layout (little-endian; every byte counts toward the 16,000,000-byte cap):

    offset  size  field
    0       4     magic b"PGZ2" (format version 2)
    4       1     codec: 0 zstd, 1 rans (CODECS)
    5       4     uint32 m: length of the manifest frame
    9       4     uint32 crc32 of the manifest frame
    13      m     manifest: one zstd-22 frame of compact UTF-8 JSON
    13+m    ...   payload, to the end of the file

Format 1 (magic b"PGZ1", no manifest checksum: the header ends at offset 9) is
read as stored, its config with rope_ntk_len 0 (one fixed base); its RoPE pairs
rotate the other way, which evaluator.artifacts.loading converts, exactly.

The manifest holds format_version, config (CrawlerConfig.to_dict(): every
model, loop and per-loop option), tokenizer_sha256, code_sha256 (of the code
files' bytes concatenated in order), code_bytes, crc32 of the canonical stream,
and tensors: [name, scheme, shape] in payload order (schemes: crawler.quant).

The canonical stream is, tensor after tensor, its data (int8 q row-major, or
the float16 values) followed, for int6/int8, by its float16 row scales.

Codecs (the payload):
    zstd  the canonical stream as one zstd-22 frame: the reference script's compression, without pickle.
    rans  uint32 k; a zstd-22 frame of k bytes (the side stream) holding the frequency tables
          (uint16, each summing to 2**RANS_PREC: RANS_CLASSES tables of 63 entries for int6, then
          RANS_CLASSES of 255 for int8), one uint8 class per row of every quantised tensor, then
          the low bytes and then the high bytes of every float16 (row scales, then fp16 tensors);
          then the symbols q + qmax of all quantised tensors, each row under the table of its
          scheme and class, as one rANS stream interleaved over `lanes` states (symbol i goes to
          lane i % lanes): uint16 lanes, lanes uint32 final states, uint16 words to the end
          (the coder: crawler.rans).
No zstd frame stores its content size, and the reader never trusts one: it
decompresses in small steps and refuses output beyond what the manifest implies.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
import zstandard
from torch import Tensor, nn

from crawler.config import CrawlerConfig, config_from_dict
from crawler.errors import ArtifactError, first_line
from crawler.files import atomic_write_bytes
from crawler.model import CrawlerGPT
from crawler.quant import SCHEME_BITS, QTensor, block_matrix_bits, dequantize_state_dict, quantize_state_dict, row_count
from crawler.rans import decode_rans, encode_rans, side_stream_bytes

MAGIC = b"PGZ2"
FORMAT_VERSION = 2
HEADER = struct.Struct("<4sBII")
LEGACY_MAGIC = b"PGZ1"  # format 1: the header had no manifest checksum
LEGACY_HEADER = struct.Struct("<4sBI")
HEADERS = {MAGIC: (FORMAT_VERSION, HEADER), LEGACY_MAGIC: (1, LEGACY_HEADER)}
CODECS = ("zstd", "rans")
DEFAULT_CODEC = "rans"
ZSTD_LEVEL = 22
MANIFEST_CAP = 1 << 20
DEFAULT_MAX_DECOMPRESSED = 1 << 28  # 256 MiB, ~15x the reference model's tensors
# parameters a model may have (PGOLF_MAX_PARAMS): 2.3x the reference model's 14.5 M; a 16 MB artifact holds ~21 M at int6
DEFAULT_MAX_PARAMS = 1 << 25


def zstd_compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=False).compress(data)


def zstd_decompress_capped(data: bytes, cap: int, what: str) -> bytes:
    """Exactly one zstd frame filling `data`, refusing more than `cap` bytes of output."""
    d = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    step = 1024  # a step's output is bounded (~32 MB at zstd's best ratio), so a bomb stops near the cap
    try:
        for i in range(0, len(data), step):
            out += d.decompress(data[i:i + step])
            if len(out) > cap:
                raise ArtifactError(f"{what}: decompresses to more than {cap:,} bytes (refused)")
            if d.eof:
                if d.unused_data or i + step < len(data):
                    raise ArtifactError(f"{what}: unexpected bytes after the zstd frame")
                return bytes(out)
    except zstandard.ZstdError as e:
        raise ArtifactError(f"{what}: corrupt zstd data ({first_line(e)})") from None
    raise ArtifactError(f"{what}: truncated (zstd frame ends early)")


def expected_shapes(config: CrawlerConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor CrawlerGPT(config) holds, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in CrawlerGPT(config).state_dict().items()}


def check_shapes(shapes: dict[str, tuple[int, ...]], config: CrawlerConfig, where: str) -> None:
    # block counts first, from the names alone: a hostile config must not get a huge model built
    for group, n in (("flat_blocks", config.num_flat_layers), ("crawler_blocks", config.num_crawler_layers)):
        found = len({name.split(".")[1] for name in shapes if name.startswith(group + ".")})
        if found != n:
            raise ArtifactError(f"{where}: tensors do not match the config ({found} {group}, the config has {n})")
    want = expected_shapes(config)
    if "tok_emb.weight" in shapes and shapes["tok_emb.weight"][:1] != (config.vocab_size,):
        raise ArtifactError(f"{where}: wrong vocabulary: tok_emb.weight has shape {shapes['tok_emb.weight']} "
                            f"but the config's vocab_size is {config.vocab_size}")
    missing, extra = sorted(want.keys() - shapes.keys()), sorted(shapes.keys() - want.keys())
    if missing or extra:
        raise ArtifactError(f"{where}: tensors do not match the config (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, shape in shapes.items():
        if tuple(shape) != want[name]:
            raise ArtifactError(f"{where}: wrong shape: {name} is {tuple(shape)}, the config needs {want[name]}")


# ----------------------------------------------------------------------------- canonical stream

def _sizes(scheme: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """(data bytes, scale bytes) of one tensor in the canonical stream."""
    numel = math.prod(shape)
    return (2 * numel, 0) if scheme == "fp16" else (numel, 2 * row_count(shape))


def _canonical(qsd: dict[str, QTensor]) -> bytes:
    parts = []
    for qt in qsd.values():
        parts.append(qt.data.numpy().astype("<f2" if qt.scheme == "fp16" else np.int8).tobytes())
        if qt.scale is not None:
            parts.append(qt.scale.numpy().astype("<f2").tobytes())
    return b"".join(parts)


def _from_canonical(raw: bytes, entries: list[tuple[str, str, tuple[int, ...]]]) -> dict[str, QTensor]:
    out, pos = {}, 0
    for name, scheme, shape in entries:
        nd, ns = _sizes(scheme, shape)
        if scheme == "fp16":
            data = torch.from_numpy(np.frombuffer(raw, "<f2", nd // 2, pos).reshape(shape).copy())
            out[name] = QTensor(scheme, shape, data)
        else:
            rows = row_count(shape)
            data = torch.from_numpy(np.frombuffer(raw, np.int8, nd, pos).reshape(rows, -1).copy())
            scale = torch.from_numpy(np.frombuffer(raw, "<f2", ns // 2, pos + nd).copy())
            out[name] = QTensor(scheme, shape, data, scale)
        pos += nd + ns
    return out


def encode_payload(qsd: dict[str, QTensor], codec: str) -> bytes:
    if codec == "zstd":
        return zstd_compress(_canonical(qsd))
    if codec == "rans":
        side, stream = encode_rans(qsd)
        zside = zstd_compress(side)
        return struct.pack("<I", len(zside)) + zside + stream
    raise ArtifactError(f"unknown codec {codec!r} (choose from {', '.join(CODECS)})")


def decode_payload(payload: bytes, codec: str, entries: list, where: str) -> dict[str, QTensor]:
    if codec == "zstd":
        raw_bytes = sum(sum(_sizes(scheme, shape)) for _, scheme, shape in entries)
        raw = zstd_decompress_capped(payload, raw_bytes, f"{where}: payload")
        if len(raw) != raw_bytes:
            raise ArtifactError(f"{where}: payload has {len(raw):,} bytes, the manifest implies {raw_bytes:,}")
        return _from_canonical(raw, entries)
    if len(payload) < 4:
        raise ArtifactError(f"{where}: truncated payload")
    (k,) = struct.unpack_from("<I", payload)
    if 4 + k + 2 > len(payload):  # the side stream, then the rANS stream's uint16 lane count
        raise ArtifactError(f"{where}: truncated payload")
    expected = side_stream_bytes(entries)
    side = zstd_decompress_capped(payload[4:4 + k], expected, f"{where}: side stream")
    if len(side) != expected:
        raise ArtifactError(f"{where}: side stream has {len(side):,} bytes, the manifest implies {expected:,}")
    return decode_rans(side, payload[4 + k:], entries, where)


# ----------------------------------------------------------------------------- write

def framed_manifest(codec_id: int, zmanifest: bytes) -> bytes:
    """The header and the compressed manifest: everything before the payload."""
    return HEADER.pack(MAGIC, codec_id, len(zmanifest), zlib.crc32(zmanifest)) + zmanifest


def _read_bytes(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read the {what} ({e.strerror or e})") from None


def export_model(model_or_state_dict: nn.Module | dict[str, Tensor], config: CrawlerConfig, tokenizer_file: str | Path,
                 code_files: list[str | Path], out_path: str | Path, codec: str | None = None) -> dict:
    """Quantise, encode and write the artifact atomically (temp file + rename); returns its byte counts."""
    codec = codec or DEFAULT_CODEC
    if codec not in CODECS:
        raise ArtifactError(f"unknown codec {codec!r} (choose from {', '.join(CODECS)})")
    out_path = Path(out_path)
    sd = model_or_state_dict.state_dict() if isinstance(model_or_state_dict, nn.Module) else model_or_state_dict
    check_shapes({k: tuple(v.shape) for k, v in sd.items()}, config, f"{out_path}: export")
    qsd = quantize_state_dict(sd, block_matrix_bits(config.qat_flat_bits, config.qat_crawler_bits))
    code = b"".join(_read_bytes(f, "code file") for f in code_files)
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "tokenizer_sha256": hashlib.sha256(_read_bytes(tokenizer_file, "tokenizer")).hexdigest(),
        "code_sha256": hashlib.sha256(code).hexdigest(),
        "code_bytes": len(code),
        "crc32": zlib.crc32(_canonical(qsd)),
        "tensors": [[name, qt.scheme, list(qt.shape)] for name, qt in qsd.items()],
    }
    manifest_json = json.dumps(manifest, separators=(",", ":")).encode()
    zmanifest = zstd_compress(manifest_json)
    payload = encode_payload(qsd, codec)
    blob = framed_manifest(CODECS.index(codec), zmanifest) + payload
    atomic_write_bytes(out_path, blob)
    return {
        "path": str(out_path),
        "codec": codec,
        "model_bytes": len(blob),
        "code_bytes": len(code),
        "total_bytes": len(blob) + len(code),
        "manifest_bytes": HEADER.size + len(zmanifest),
        "manifest_json_bytes": len(manifest_json),
        "payload_bytes": len(payload),
        "tensor_bytes": sum(sum(_sizes(qt.scheme, qt.shape)) for qt in qsd.values()),
        "tensors": len(qsd),
    }


# ----------------------------------------------------------------------------- read

def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def _parse_manifest(m, version: int, where: str) -> list[tuple[str, str, tuple[int, ...]]]:
    keys = {"format_version": int, "config": dict, "tokenizer_sha256": str, "code_sha256": str,
            "code_bytes": int, "crc32": int, "tensors": list}
    # bool is an int to isinstance: `code_bytes: true` would count as 1 byte
    if not isinstance(m, dict) or any(not isinstance(m.get(k), t) or isinstance(m.get(k), bool)
                                      for k, t in keys.items()):
        raise ArtifactError(f"{where}: malformed manifest (needs {', '.join(keys)})")
    if m["format_version"] != version:
        raise ArtifactError(f"{where}: manifest says format version {m['format_version']}, the header {version}")
    if not 0 <= m["code_bytes"] < 1 << 40:
        raise ArtifactError(f"{where}: malformed manifest (code_bytes {m['code_bytes']})")
    entries, seen = [], set()
    for e in m["tensors"]:
        ok = isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and e[1] in ("fp16", *SCHEME_BITS) \
            and isinstance(e[2], list) and len(e[2]) <= 8 \
            and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 31 for d in e[2])
        if not ok or e[0] in seen:
            raise ArtifactError(f"{where}: malformed manifest tensor entry {str(e)[:80]}")
        seen.add(e[0])
        entries.append((e[0], e[1], tuple(e[2])))
    return entries


def _finite(qsd: dict[str, QTensor], where: str) -> None:
    # the checksums prove the bytes are the writer's, not that the writer was honest
    for name, qt in qsd.items():
        for t in (qt.data, qt.scale):
            if t is not None and t.is_floating_point() and not torch.isfinite(t).all():
                raise ArtifactError(f"{where}: {name} has non-finite values")


def read_artifact(path: str | Path, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED,
                  max_params: int = DEFAULT_MAX_PARAMS) -> tuple[CrawlerConfig, dict[str, QTensor], dict]:
    """(config, quantised tensors, manifest); the manifest gains `codec` and `model_bytes`.
    A format-1 file comes back converted to the current RoPE convention. The parameters the manifest
    declares are counted before anything is decoded: a 263 KB rANS file of one repeated symbol can
    declare 266 M of them, and decoding those costs gigabytes and minutes."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ArtifactError(f"{path}: not a regular file" if path.exists() else f"{path}: not found")
        size = path.stat().st_size
        if size > max_decompressed_bytes:
            raise ArtifactError(f"{path}: {size:,} bytes is larger than the {max_decompressed_bytes:,}-byte cap")
        blob = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read ({e.strerror or e})") from None
    if blob[:4] not in HEADERS:
        raise ArtifactError(f"{path}: not a pgolf artifact (magic {blob[:4]!r}, expected {MAGIC!r})")
    version, header = HEADERS[blob[:4]]
    if len(blob) < header.size:
        raise ArtifactError(f"{path}: truncated ({len(blob)} bytes, shorter than the header)")
    _, codec_id, m, *manifest_crc = header.unpack_from(blob)
    if codec_id >= len(CODECS):
        raise ArtifactError(f"{path}: unknown codec id {codec_id}")
    if header.size + m > len(blob):
        raise ArtifactError(f"{path}: truncated (manifest runs past the end of the file)")
    frame = blob[header.size:header.size + m]
    if manifest_crc and zlib.crc32(frame) != manifest_crc[0]:
        raise ArtifactError(f"{path}: corrupt (manifest checksum mismatch)")
    raw = zstd_decompress_capped(frame, MANIFEST_CAP, f"{path}: manifest")
    try:
        manifest = json.loads(raw, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: also over-long integers
        raise ArtifactError(f"{path}: manifest is not JSON ({first_line(e, 80)})") from None
    entries = _parse_manifest(manifest, version, str(path))
    params = sum(math.prod(shape) for _, _, shape in entries)
    if params > max_params:
        raise ArtifactError(f"{path}: declares {params:,} parameters, more than the {max_params:,} allowed "
                            "(PGOLF_MAX_PARAMS)")
    declared = sum(sum(_sizes(scheme, shape)) for _, scheme, shape in entries)
    if declared > max_decompressed_bytes:
        raise ArtifactError(f"{path}: declares {declared:,} bytes of tensors, "
                            f"more than the {max_decompressed_bytes:,}-byte cap")
    try:
        config = config_from_dict({"rope_ntk_len": 0, **manifest["config"]} if version == 1 else manifest["config"])
        check_shapes({name: shape for name, _, shape in entries}, config, str(path))
    except ArtifactError:
        raise
    except (ValueError, TypeError, ArithmeticError, RuntimeError) as e:  # a hostile config can break the model build
        raise ArtifactError(f"{path}: bad config in manifest ({first_line(e)})") from None
    codec = CODECS[codec_id]
    qsd = decode_payload(blob[header.size + m:], codec, entries, str(path))
    if zlib.crc32(_canonical(qsd)) != manifest["crc32"]:
        raise ArtifactError(f"{path}: corrupt (tensor checksum mismatch)")
    _finite(qsd, str(path))
    return config, qsd, {**manifest, "codec": codec, "model_bytes": len(blob)}


def load_artifact(path: str | Path, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED,
                  max_params: int = DEFAULT_MAX_PARAMS) -> tuple[CrawlerConfig, dict[str, Tensor], dict]:
    """(config, float32 dequantised state dict, manifest) of one of our artifacts; ArtifactError on any bad input."""
    config, qsd, manifest = read_artifact(path, max_decompressed_bytes, max_params)
    return config, dequantize_state_dict(qsd), manifest
