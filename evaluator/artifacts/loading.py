"""Open any artifact: ours, the Micro Crawler record's, or the official baseline's.

Formats, told apart by their first bytes and then by their contents:
  pgolf-ptz       ours (crawler.ptz), magic b"PGZ1": config and loop count from the manifest.
  record-int6     PR #1140's final_model.int6.ptz: a zstd frame (zlib if its writer lacked zstandard)
                  of torch.save({"w": tensors, "m": meta}); w holds `name.q` / `name.scale` for
                  meta {"type": "int6"} / {"type": "int8"} and `name` for "passthrough" /
                  "passthrough_ctrl"; a scale with one entry per row multiplies rows, a 0-d one
                  the whole tensor.
  baseline-int8   the official train_gpt.py's final_model.int8.ptz: zlib(torch.save(obj)) with
                  obj["__quant_format__"] == "int8_clean_per_row_v1" and dicts quantized, scales,
                  dtypes, passthrough (optional qmeta, passthrough_orig_dtypes).
Foreign files are untrusted: decompression is capped, the archive must be a torch zip
whose entries are all stored (no nested compression) with good CRCs, and it is read with
torch.load(weights_only=True) only. The crawler config of a record file, and the baseline GPT's
(evaluator.artifacts.baseline_gpt) of a baseline file, are inferred from tensor names and shapes; what the
weights cannot say (the loop count, the rope base, ...) is assumed and listed in `assumptions`.
"""
from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from crawler.config import CrawlerConfig
from crawler.errors import first_line
from crawler.model import CrawlerGPT, flip_rotary_direction
from crawler.ptz import (DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_PARAMS, HEADERS, ArtifactError, check_shapes,
                         read_artifact, zstd_decompress_capped)
from crawler.quant import dequantize_state_dict
from evaluator.artifacts.baseline_gpt import ASSUMPTIONS as BASELINE_ASSUMPTIONS
from evaluator.artifacts.baseline_gpt import BaselineConfig, BaselineGPT
from evaluator.artifacts.baseline_gpt import infer_config as infer_baseline_config
from evaluator.cli_inputs import positive_int_env

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
TORCH_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive


def is_zlib(head: bytes) -> bool:
    """A zlib stream's two-byte header: deflate, and a check value that makes it a multiple of 31."""
    return len(head) >= 2 and (head[0] & 0x0F) == 8 and ((head[0] << 8) | head[1]) % 31 == 0


RECORD_DEFAULT_LOOPS = 3  # leg3's CRAWLER_LOOPS

# The record's CrawlerGPT (newjordan/parameter-golf, experiments/*/train_gpt.py, USE_CRAWLER=1) uses
# our module tree for these names, so they map one to one:
RECORD_SAME_NAMES = re.compile(r"tok_emb\.weight|bigram\.(embed\.weight|proj\.weight|scale)|smear\.gate|skip_weights"
                               r"|(flat|crawler)_blocks\.\d+\.(attn\.(c_q|c_k|c_v|proj)\.weight|attn\.q_gain"
                               r"|mlp\.(fc|proj)\.weight|attn_scale|mlp_scale|resid_mix)")
# and these have no place in CrawlerGPT; they are set aside in `unmapped` with the reason. The record's
# 14,462,508 parameters are exactly leg3's 14,233,129 plus 65,536 of flow instructions (INST_DIM=32) and
# 163,843 of value embeddings, so nothing else is expected:
RECORD_DROPPED = (
    (re.compile(r"loop_inst_(proj|up\.\d+)\.weight"),
     ("the record's flow loop instructions (x += up[loop](proj(x)) before each crawler loop), which CrawlerGPT "
      "does not have: scores will differ from the record's")),
    (re.compile(r"ve_shared\..*|ve_layer_scales\.\d+"),
     ("the record's value embeddings, applied only to crawler blocks listed in VE_LAYERS (default 9,10), "
      "which a crawler of fewer than 10 blocks never reaches")),
    (re.compile(r"loop_pos\.\d+"), "the record's fixed per-loop offsets (used when INST_DIM=0)"),
)


@dataclass
class LoadedArtifact:
    path: str
    format: str  # "pgolf-ptz" | "record-int6" | "baseline-int8"
    architecture: str
    config: CrawlerConfig | BaselineConfig  # the model family: CrawlerGPT or BaselineGPT
    state_dict: dict[str, Tensor]  # float32, dequantised; the names of the family's model
    manifest: dict  # ours: the manifest; foreign: what was inferred from the tensors
    assumptions: list[str]
    compressed_bytes: int
    code_bytes: int | None = None  # known for our format only
    unmapped: dict[str, Tensor] = field(default_factory=dict)  # foreign tensors CrawlerGPT has no place for

    def same_convention(self, float_state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """The float checkpoint this artifact was exported from, in the RoPE direction its weights now use
        (a format-1 artifact is converted on load, so its run's checkpoint must be too)."""
        if self.format == "pgolf-ptz" and self.manifest["format_version"] == 1:
            return flip_rotary_direction(float_state_dict, self.config)
        return float_state_dict

    def require_crawler(self) -> CrawlerConfig:
        """The crawler config, for tools that only a Micro Crawler can feed (the record's benchmarks)."""
        if not isinstance(self.config, CrawlerConfig):
            raise ArtifactError(f"{self.path}: needs a Micro Crawler artifact, not the {self.architecture}")
        return self.config

    def build_model(self, device, state_dict: dict[str, Tensor] | None = None) -> torch.nn.Module:
        """This artifact's model with its weights (or `state_dict`, e.g. the float checkpoint)."""
        return build_model(self.config, self.state_dict if state_dict is None else state_dict, device)


def build_model(config: CrawlerConfig | BaselineConfig, state_dict: dict[str, Tensor], device) -> torch.nn.Module:
    """The family's model (the one its config describes) with these weights, float32, in eval mode; RuntimeError
    when the weights do not fit the config."""
    model = (BaselineGPT if isinstance(config, BaselineConfig) else CrawlerGPT)(config).to(device)
    model.load_state_dict({k: v.to(device=device, dtype=torch.float32) for k, v in state_dict.items()})
    return model.eval()


def _decompress(blob: bytes, cap: int, where: str) -> bytes:
    if blob.startswith(ZSTD_MAGIC):
        return zstd_decompress_capped(blob, cap, where)
    if is_zlib(blob):
        d = zlib.decompressobj()
        try:
            raw = d.decompress(blob, cap + 1)
        except zlib.error as e:
            raise ArtifactError(f"{where}: corrupt zlib data ({first_line(e)})") from None
        if len(raw) > cap:
            raise ArtifactError(f"{where}: decompresses to more than {cap:,} bytes (refused)")
        if not d.eof:
            raise ArtifactError(f"{where}: truncated (zlib stream ends early)")
        if d.unused_data:
            raise ArtifactError(f"{where}: unexpected bytes after the zlib stream")
        return raw
    raise ArtifactError(f"{where}: unknown artifact format (first bytes {blob[:4].hex() or 'none'}: "
                        "not ours, zstd or zlib)")


def _torch_load(raw: bytes, where: str):
    if not raw.startswith(TORCH_ZIP_MAGIC):
        raise ArtifactError(f"{where}: decompressed data is not a torch.save zip archive")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            # stored entries only: a deflated one could hide a second bomb behind the cap
            stored = all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
            bad = z.testzip() if stored else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, ValueError) as e:
        raise ArtifactError(f"{where}: corrupt torch archive ({first_line(e, 100)})") from None
    if not stored:
        raise ArtifactError(f"{where}: torch archive has compressed entries (torch.save never writes them)")
    if bad is not None:
        raise ArtifactError(f"{where}: corrupt torch archive (CRC mismatch in {bad[:60]})")
    try:
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler raises many kinds on hostile input; all mean "refused"
        lines = str(e).splitlines()
        why = next((ln.strip()[:120] for ln in lines if "GLOBAL" in ln or "nsupported" in ln), first_line(e))
        raise ArtifactError(f"{where}: refused by torch.load(weights_only=True) ({type(e).__name__}: {why})") from None


def _tensor_dict(d, what: str, where: str) -> dict[str, Tensor]:
    if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in d.items()):
        raise ArtifactError(f"{where}: {what} is not a dict of named tensors")
    return d


def _scaled(q: Tensor, s: Tensor, name: str, where: str) -> Tensor:
    if q.dtype != torch.int8 or not s.is_floating_point():
        raise ArtifactError(f"{where}: {name} has q {q.dtype} and scale {s.dtype}, expected int8 and float")
    if s.ndim == 0:
        return q.float() * s.float()
    if s.ndim != 1 or q.ndim == 0 or s.numel() != q.shape[0]:
        raise ArtifactError(f"{where}: {name} has scale shape {tuple(s.shape)} for q shape {tuple(q.shape)}")
    return q.float() * s.float().view(-1, *([1] * (q.ndim - 1)))


def _finite(sd: dict[str, Tensor], where: str) -> dict[str, Tensor]:
    for name, t in sd.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ArtifactError(f"{where}: {name} has non-finite values")
    return sd


def _dequantize_record(obj, where: str) -> dict[str, Tensor]:
    w, m = _tensor_dict(obj.get("w"), "w", where), obj.get("m")
    if not isinstance(m, dict):
        raise ArtifactError(f"{where}: record file has no meta dict 'm'")
    out = {}
    for name, info in m.items():
        if not isinstance(name, str):
            raise ArtifactError(f"{where}: record meta has a non-string name {str(name)[:40]}")
        kind = info if isinstance(info, str) else info.get("type") if isinstance(info, dict) else None
        if kind in ("passthrough", "passthrough_ctrl", "passthrough_fp16") and name in w:
            t = w[name]
            out[name] = t.float() if t.is_floating_point() else t
        elif kind in ("int6", "int8") and isinstance(info, dict) and f"{name}.q" in w and f"{name}.scale" in w:
            out[name] = _scaled(w[name + ".q"], w[name + ".scale"], name, where)
        else:
            raise ArtifactError(f"{where}: record meta for {name[:60]} is {str(info)[:40]} with no matching tensors")
    return _finite(out, where)


# the float dtypes a baseline file may name for a tensor (looked up here, never with getattr on torch)
BASELINE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
                   "float64": torch.float64}


def _baseline_dtypes(obj, key: str, names, where: str) -> dict[str, torch.dtype]:
    """The dtype the baseline's model had for each name (float32 where the file names none)."""
    d = obj.get(key, {})
    if not isinstance(d, dict):
        raise ArtifactError(f"{where}: baseline {key} is not a dict of dtype names")
    out = {}
    for name in names:
        dtype = d.get(name, "float32")
        if not isinstance(dtype, str) or dtype not in BASELINE_DTYPES:
            raise ArtifactError(f"{where}: baseline {key} gives {name[:60]} the unsupported dtype {str(dtype)[:20]!r}")
        out[name] = BASELINE_DTYPES[dtype]
    return out


def _dequantize_baseline(obj, where: str) -> dict[str, Tensor]:
    q = _tensor_dict(obj.get("quantized"), "quantized", where)
    scales = _tensor_dict(obj.get("scales"), "scales", where)
    passthrough = _tensor_dict(obj.get("passthrough"), "passthrough", where)
    if q.keys() != scales.keys():
        raise ArtifactError(f"{where}: baseline quantized and scales name different tensors")
    # The baseline's own reader casts every tensor to the dtype it had in the model (a bf16 tok_emb, as its
    # training casts it, is rounded to bf16 again), and that model is what its eval_val scores: so do we.
    dtypes = _baseline_dtypes(obj, "dtypes", q, where)
    floats = [n for n, t in passthrough.items() if t.is_floating_point()]
    orig = _baseline_dtypes(obj, "passthrough_orig_dtypes", floats, where)
    out = {name: _scaled(q[name], scales[name], name, where).to(dtypes[name]).float() for name in q}
    for name, t in passthrough.items():
        out[name] = t.to(orig[name]).float() if t.is_floating_point() else t
    return _finite(out, where)


def _shape(shapes: dict, name: str, ndim: int, where: str) -> tuple[int, ...]:
    if name not in shapes:
        raise ArtifactError(f"{where}: cannot infer the architecture: no tensor {name}")
    if len(shapes[name]) != ndim or 0 in shapes[name]:
        raise ArtifactError(f"{where}: wrong shape: {name} is {shapes[name]}, expected {ndim} non-zero dims")
    return shapes[name]


def _block_indices(names, prefix: str) -> list[int]:
    return sorted({int(m.group(1)) for n in names if (m := re.match(rf"{prefix}\.(\d+)\.", n))})


def _infer_record_config(shapes: dict[str, tuple[int, ...]], n_up: int, loops: int | None,
                         where: str) -> tuple[CrawlerConfig, dict, list[str]]:
    """The crawler config of the mapped tensors; n_up counts the record's per-loop instruction matrices."""
    vocab, dim = _shape(shapes, "tok_emb.weight", 2, where)
    flat, crawler = _block_indices(shapes, "flat_blocks"), _block_indices(shapes, "crawler_blocks")
    first = f"flat_blocks.{flat[0]}" if flat else f"crawler_blocks.{crawler[0]}" if crawler else None
    if first is None:
        raise ArtifactError(f"{where}: cannot infer the architecture: no flat_blocks or crawler_blocks tensors")
    (heads,) = _shape(shapes, f"{first}.attn.q_gain", 1, where)
    kv_dim = _shape(shapes, f"{first}.attn.c_k.weight", 2, where)[0]
    bigram_vocab, bigram_dim = _shape(shapes, "bigram.embed.weight", 2, where)
    if dim % heads or kv_dim % (dim // heads):
        raise ArtifactError(f"{where}: inconsistent attention shapes (dim {dim}, {heads} heads, kv dim {kv_dim})")
    inferred = dict(vocab_size=vocab, model_dim=dim, num_heads=heads, num_kv_heads=kv_dim // (dim // heads),
                    num_flat_layers=len(flat), num_crawler_layers=len(crawler),
                    bigram_vocab_size=bigram_vocab, bigram_dim=bigram_dim)
    if flat:
        inferred["mlp_mult"] = _shape(shapes, f"flat_blocks.{flat[0]}.mlp.fc.weight", 2, where)[0] / dim
    if crawler:
        inferred["crawler_mlp_mult"] = _shape(shapes, f"crawler_blocks.{crawler[0]}.mlp.fc.weight", 2, where)[0] / dim
    assumptions = []
    if n_up:
        if loops is not None and loops != n_up:
            raise ArtifactError(f"{where}: --loops {loops} contradicts the file's {n_up} per-loop instruction matrices")
        inferred["crawler_loops"] = n_up
        assumptions.append(f"crawler_loops={n_up}, counted from the record's per-loop loop_inst_up matrices")
    else:
        inferred["crawler_loops"] = RECORD_DEFAULT_LOOPS if loops is None else loops
        how = "the record's default; the weights do not record it" if loops is None else "from --loops"
        assumptions.append(f"crawler_loops={inferred['crawler_loops']} assumed ({how})")
    assumptions.append("rope_dims, rope_base, logit_softcap, XSA placement, sequence lengths and training settings "
                       "are not in the weights: taken from the leg3 preset")
    try:
        config = CrawlerConfig(**inferred).validate()
    except ValueError as e:
        raise ArtifactError(f"{where}: inferred config is invalid ({first_line(e)})") from None
    return config, inferred, assumptions


def _open_record(sd: dict[str, Tensor], loops: int | None, where: str):
    mapped, unmapped, reasons = {}, {}, {}
    for name, t in sd.items():
        if RECORD_SAME_NAMES.fullmatch(name):
            mapped[name] = t
            continue
        reason = next((why for pattern, why in RECORD_DROPPED if pattern.fullmatch(name)), None)
        if reason is None:
            raise ArtifactError(f"{where}: record tensor {name[:60]} has no counterpart in CrawlerGPT")
        unmapped[name] = t
        reasons.setdefault(reason, []).append(name)
    shapes = {k: tuple(v.shape) for k, v in mapped.items()}
    n_up = len(_block_indices(unmapped, "loop_inst_up"))
    config, inferred, assumptions = _infer_record_config(shapes, n_up, loops, where)
    for reason, names in reasons.items():
        params = sum(unmapped[n].numel() for n in names)
        ups = [n for n in names if n.startswith("loop_inst_up.")]
        if ups and all(not unmapped[n].any() for n in ups):
            # zero up-projections (frozen at their zero init) add nothing: dropping them is exact
            reason = "the record's loop instructions, whose up-projections are all zero here, so they add nothing"
        assumptions.append(f"dropped {len(names)} tensors ({params:,} params): {reason}")
    check_shapes(shapes, config, where)
    return config, mapped, unmapped, {"inferred": inferred}, assumptions


MAX_PARAMS_VARIABLE = "PGOLF_MAX_PARAMS"


def max_params_setting(environ=None) -> int:
    """The parameter cap: PGOLF_MAX_PARAMS or the default."""
    return positive_int_env(MAX_PARAMS_VARIABLE, DEFAULT_MAX_PARAMS, environ=environ)


def _within_params(state_dict: dict[str, Tensor], max_params: int, where: str) -> int:
    """The state dict's parameter count, refused past max_params."""
    params = sum(t.numel() for t in state_dict.values())
    if params > max_params:
        raise ArtifactError(f"{where}: holds {params:,} parameters, more than the {max_params:,} allowed "
                            f"({MAX_PARAMS_VARIABLE})")
    return params


def open_artifact(path: str | Path, loops: int | None = None, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED,
                  max_params: int | None = None) -> LoadedArtifact:
    """Read any supported artifact; ArtifactError (one line naming the file) on anything wrong. No model is built
    for one of more than max_params parameters (None: max_params_setting())."""
    path = Path(path)
    where = str(path)
    max_params = max_params_setting() if max_params is None else max_params
    if loops is not None and loops < 1:
        raise ArtifactError(f"{where}: --loops must be at least 1, got {loops}")
    try:
        st = path.stat()
        # before any open: a named pipe blocks the open itself, /dev/zero (size 0) would be read for ever
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"{where}: not a regular file")
        size = st.st_size
        if size > max_decompressed_bytes:
            raise ArtifactError(f"{where}: {size:,} bytes is larger than the {max_decompressed_bytes:,}-byte cap")
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        raise ArtifactError(f"{where}: cannot read ({e.strerror or e})") from None

    if head in HEADERS:
        config, qsd, manifest = read_artifact(path, max_decompressed_bytes, max_params)
        state_dict, assumptions = dequantize_state_dict(qsd), []
        if manifest["format_version"] == 1:
            assumptions.append("format 1: its RoPE pairs rotate the other way and its base is fixed at every length; "
                               "converted on load to the record's convention, exactly")
        if loops is not None and loops != config.crawler_loops:
            trained = config.crawler_loops
            try:
                config = config.replace(crawler_loops=loops)
            except ValueError as e:
                raise ArtifactError(f"{where}: cannot run with --loops {loops} ({first_line(e)})") from None
            check_shapes({k: tuple(v.shape) for k, v in state_dict.items()}, config, where)
            assumptions.append(f"crawler_loops={loops} from --loops; the artifact was trained with {trained}")
        return LoadedArtifact(where, "pgolf-ptz", "Micro Crawler", config, state_dict, manifest, assumptions,
                              size, manifest["code_bytes"])

    obj = _torch_load(_decompress(path.read_bytes(), max_decompressed_bytes, where), where)
    if not isinstance(obj, dict):
        raise ArtifactError(f"{where}: torch archive holds a {type(obj).__name__}, not an artifact dict")
    if "__quant_format__" in obj:
        if obj["__quant_format__"] != "int8_clean_per_row_v1":
            raise ArtifactError(f"{where}: unknown baseline quant format {str(obj['__quant_format__'])[:40]!r}")
        sd = _dequantize_baseline(obj, where)
        params = _within_params(sd, max_params, where)
        config = infer_baseline_config({k: tuple(v.shape) for k, v in sd.items()}, where)
        assumptions = list(BASELINE_ASSUMPTIONS)
        if loops is not None:
            assumptions.append("--loops ignored: the baseline GPT has no crawler")
        inferred = {k: getattr(config, k) for k in ("num_layers", "model_dim", "vocab_size", "num_heads",
                                                    "num_kv_heads", "mlp_hidden", "tie_embeddings")}
        return LoadedArtifact(where, "baseline-int8", "official baseline GPT", config, sd,
                              {"inferred": {**inferred, "params": params}},
                              assumptions, size)
    if {"w", "m"} <= obj.keys():
        sd = _dequantize_record(obj, where)
        _within_params(sd, max_params, where)
        config, mapped, unmapped, info, assumptions = _open_record(sd, loops, where)
        return LoadedArtifact(where, "record-int6", "Micro Crawler (record PR #1140 layout)", config, mapped, info,
                              assumptions, size, unmapped=unmapped)
    raise ArtifactError(f"{where}: torch archive is neither the record's {{'w', 'm'}} nor the baseline's int8 format")


def load_float_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """A trainer's float weights (final_model.safetensors): tensors only, nothing executable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: checkpoint not found") from None
    except (SafetensorError, OSError) as e:
        raise ArtifactError(f"{path}: not a readable safetensors file ({first_line(e, 100)})") from None
