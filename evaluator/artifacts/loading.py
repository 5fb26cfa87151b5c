"""Open any artifact: ours, the Micro Crawler record's, or the official baseline's.

Formats, told apart by their first bytes and then by their contents:
  pgolf-ptz       ours (crawler.ptz), magic b"PGZ1"/b"PGZ2": config and loop count from the manifest.
  record-int6     PR #1140's final_model.int6.ptz (foreign.record_int6).
  baseline-int8   the official train_gpt.py's final_model.int8.ptz (foreign.baseline_int8).
Foreign files are untrusted: their container (container.py, zstd or zlib) and torch archive are undone under caps
(foreign.torch_archive). The crawler config of a record file, and the baseline GPT's
(evaluator.artifacts.baseline_gpt) of a baseline file, are inferred from tensor names and shapes; what the
weights cannot say (the loop count, the rope base, ...) is assumed and listed in `assumptions`.
"""
from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from crawler.config import CrawlerConfig
from crawler.errors import first_line
from crawler.model import CrawlerGPT
from crawler.ptz import DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_PARAMS, HEADERS, ArtifactError, check_shapes, read_artifact
from crawler.quant import dequantize_state_dict
from evaluator.artifacts.baseline_gpt import ASSUMPTIONS as BASELINE_ASSUMPTIONS
from evaluator.artifacts.baseline_gpt import BaselineConfig, BaselineGPT
from evaluator.artifacts.baseline_gpt import infer_config as infer_baseline_config
from evaluator.artifacts.foreign.baseline_int8 import QUANT_FORMAT_KEY, dequantize_baseline
from evaluator.artifacts.foreign.record_int6 import RECORD_KEYS, dequantize_record, map_record
from evaluator.artifacts.foreign.torch_archive import decompress, torch_load
from evaluator.cli_inputs import positive_int_env


def flip_rotary_direction(state_dict: dict[str, Tensor], cfg: CrawlerConfig) -> dict[str, Tensor]:
    """Format-1 weights (our RoPE rotated its pairs the other way then) in the reference's direction: negating the
    second RoPE half of every head's c_q and c_k rows negates the second half of the rotated q and k, so every q.k,
    hence every logit, is unchanged."""
    half, D = cfg.rope_dims // 2, cfg.head_dim
    out = dict(state_dict)
    for name, w in state_dict.items():
        if name.endswith((".attn.c_q.weight", ".attn.c_k.weight")):
            rows = w.clone().view(-1, D, w.shape[-1])  # (heads, head_dim, dim)
            rows[:, half:2 * half] *= -1
            out[name] = rows.view_as(w)
    return out


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
            state_dict = flip_rotary_direction(state_dict, config)
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

    obj = torch_load(decompress(path.read_bytes(), max_decompressed_bytes, where), where)
    if not isinstance(obj, dict):
        raise ArtifactError(f"{where}: torch archive holds a {type(obj).__name__}, not an artifact dict")
    if QUANT_FORMAT_KEY in obj:
        sd = dequantize_baseline(obj, where)
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
    if RECORD_KEYS <= obj.keys():
        sd = dequantize_record(obj, where)
        _within_params(sd, max_params, where)
        config, mapped, unmapped, info, assumptions = map_record(sd, loops, where)
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
