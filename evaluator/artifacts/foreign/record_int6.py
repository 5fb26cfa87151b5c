"""PR #1140's final_model.int6.ptz, the Micro Crawler record's: a zstd frame (zlib if its writer lacked zstandard)
of torch.save({"w": tensors, "m": meta}); w holds `name.q` / `name.scale` for meta {"type": "int6"} /
{"type": "int8"} and `name` for "passthrough" / "passthrough_ctrl"; a scale with one entry per row multiplies rows, a
0-d one the whole tensor. Its tensors are mapped onto CrawlerGPT's names and the crawler config is inferred from their
shapes; what the weights cannot say (the loop count, the rope base, ...) is assumed and listed in `assumptions`."""
from __future__ import annotations

import re

from torch import Tensor

from crawler.config import CrawlerConfig
from crawler.errors import first_line
from crawler.ptz import ArtifactError, check_shapes
from evaluator.artifacts.foreign.torch_archive import finite, scaled, tensor_dict

RECORD_KEYS = {"w", "m"}
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


def dequantize_record(obj, where: str) -> dict[str, Tensor]:
    w, m = tensor_dict(obj.get("w"), "w", where), obj.get("m")
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
            out[name] = scaled(w[name + ".q"], w[name + ".scale"], name, where)
        else:
            raise ArtifactError(f"{where}: record meta for {name[:60]} is {str(info)[:40]} with no matching tensors")
    return finite(out, where)


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


def map_record(sd: dict[str, Tensor], loops: int | None, where: str):
    """The record's tensors split into CrawlerGPT's (mapped) and those it has no place for (unmapped, each reason
    among the assumptions), with the config inferred from them: (config, mapped, unmapped, manifest, assumptions)."""
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
