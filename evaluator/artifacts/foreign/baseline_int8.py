"""The official train_gpt.py's final_model.int8.ptz: zlib(torch.save(obj)) with obj["__quant_format__"] ==
"int8_clean_per_row_v1" and dicts quantized, scales, dtypes, passthrough (optional qmeta, passthrough_orig_dtypes).
Its model is the baseline GPT (evaluator.artifacts.baseline_gpt), whose config is inferred from the shapes."""
from __future__ import annotations

import torch
from torch import Tensor

from crawler.ptz import ArtifactError
from evaluator.artifacts.foreign.torch_archive import finite, scaled, tensor_dict

QUANT_FORMAT_KEY = "__quant_format__"
QUANT_FORMAT = "int8_clean_per_row_v1"

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


def dequantize_baseline(obj, where: str) -> dict[str, Tensor]:
    if obj[QUANT_FORMAT_KEY] != QUANT_FORMAT:
        raise ArtifactError(f"{where}: unknown baseline quant format {str(obj[QUANT_FORMAT_KEY])[:40]!r}")
    q = tensor_dict(obj.get("quantized"), "quantized", where)
    scales = tensor_dict(obj.get("scales"), "scales", where)
    passthrough = tensor_dict(obj.get("passthrough"), "passthrough", where)
    if q.keys() != scales.keys():
        raise ArtifactError(f"{where}: baseline quantized and scales name different tensors")
    # The baseline's own reader casts every tensor to the dtype it had in the model (a bf16 tok_emb, as its
    # training casts it, is rounded to bf16 again), and that model is what its eval_val scores: so do we.
    dtypes = _baseline_dtypes(obj, "dtypes", q, where)
    floats = [n for n, t in passthrough.items() if t.is_floating_point()]
    orig = _baseline_dtypes(obj, "passthrough_orig_dtypes", floats, where)
    out = {name: scaled(q[name], scales[name], name, where).to(dtypes[name]).float() for name in q}
    for name, t in passthrough.items():
        out[name] = t.to(orig[name]).float() if t.is_floating_point() else t
    return finite(out, where)
