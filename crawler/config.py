"""One config object for data, model and training.

Values come from, in rising precedence: a preset, a TOML file, the challenge's
environment variable names (mapped in ENV_NAMES, the only place the environment
is read), and explicit overrides such as CLI flags.
"""
from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path

from crawler.contract import TRAIN_CAP_SECONDS
from crawler.errors import PgolfError


class ConfigError(PgolfError, ValueError):
    pass


def require(config, checks: list[tuple[bool, str]]):
    """The config when every check holds, else ConfigError with the first failing check's message."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return config


@dataclass
class CrawlerConfig:
    # data (official layout: DATA_PATH/fineweb_{train,val}_*.bin); an empty
    # tokenizer_path means DATA_PATH/tokenizer.model, where prepare-data writes it
    data_path: str = "data/wiki_sp1024"
    tokenizer_path: str = ""
    vocab_size: int = 1024

    # model
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    num_flat_layers: int = 4  # split evenly: first half encoder, second half decoder
    num_crawler_layers: int = 1
    crawler_loops: int = 3
    mlp_mult: float = 3.0
    crawler_mlp_mult: float = 6.0
    train_seq_len: int = 2048
    rope_dims: int = 16
    rope_base: float = 10000.0
    # the reference script's Rotary: the base grows NTK-style beyond this many positions (10000 * 2^(16/14) at 2048)
    # and is bf16-rounded up to it; 0 = a fixed float32 base (format-1 artifacts, see crawler.ptz)
    rope_ntk_len: int = 1024
    logit_softcap: float = 30.0
    qk_gain_init: float = 1.5
    tied_embed_init_std: float = 0.005
    bigram_vocab_size: int = 2048
    bigram_dim: int = 128
    xsa_crawler: bool = True
    xsa_flat: bool = False
    # per-loop RoPE base multipliers, e.g. (1, 3, 9); empty = every loop uses rope_base
    loop_rope_scales: tuple[float, ...] = ()
    # trained per-loop instruction vectors added to the crawler input; 0 = off
    loop_inst_dim: int = 0

    # training
    seed: int = 1337
    iterations: int = 20000
    warmup_steps: int = 20  # compile warm-up steps whose state is discarded
    warmdown_iters: int = 2000
    train_batch_tokens: int = 786_432
    grad_accum_steps: int = 0  # 0 = 8 // world_size, as the challenge's trainer (1 on 8 GPUs)
    max_wallclock_seconds: float = TRAIN_CAP_SECONDS
    # a step's time on 2 idle CPU cores, for presets made for CPU (0: none): the trainer warns far above it
    cpu_step_ms: float = 0.0
    val_loss_every: int = 4000
    train_log_every: int = 500
    val_batch_size: int = 524_288
    val_max_tokens: int = 0  # 0 = the whole validation split during training
    matrix_lr: float = 0.03
    tied_embed_lr: float = 0.035
    scalar_lr: float = 0.025
    muon_momentum: float = 0.99
    muon_momentum_warmup_start: float = 0.92
    muon_momentum_warmup_steps: int = 1500
    muon_backend_steps: int = 5
    muon_wd: float = 0.04
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    adam_wd: float = 0.04
    grad_clip_norm: float = 0.3
    # QAT: straight-through fake quantisation to the export grid once the LR
    # scale falls below qat_threshold; bits 0 = off for that block group
    qat_flat_bits: int = 0
    qat_crawler_bits: int = 0
    qat_threshold: float = 0.15
    ema_decay: float = 0.0  # 0 = off
    swa_every: int = 0  # 0 = off
    swa_threshold: float = 0.2  # collect SWA snapshots once the LR scale is below this
    compile: bool = True  # torch.compile, CUDA only

    # evaluation
    eval_seq_len: int = 2048
    eval_stride: int = 64

    # output
    run_id: str = "run"
    out_dir: str = "runs"

    @property
    def tokenizer_file(self) -> Path:
        return Path(self.tokenizer_path) if self.tokenizer_path else Path(self.data_path) / "tokenizer.model"

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads

    def validate(self) -> "CrawlerConfig":
        # bounds first: a manifest or a form is untrusted, and 1e6 crawler loops or a 1e308 width is unbounded work
        for name, value in dataclasses.asdict(self).items():
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, float) and not math.isfinite(v):
                    raise ConfigError(f"{name} must be finite, got {v}")
                lo, hi = BOUNDS.get(name, (-GENERIC_BOUND, GENERIC_BOUND))
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not lo <= v <= hi:
                    raise ConfigError(f"{name} = {shown(v)} is outside {lo:g}..{hi:g}")
        checks = [
            (self.model_dim % self.num_heads == 0, "model_dim must be divisible by num_heads"),
            (self.num_heads % self.num_kv_heads == 0, "num_heads must be divisible by num_kv_heads"),
            (self.head_dim % 2 == 0, "head_dim must be even"),
            (0 < self.rope_dims <= self.head_dim and self.rope_dims % 2 == 0, "rope_dims must be even and <= head_dim"),
            # the NTK rule divides by rope_dims - 2 beyond rope_ntk_len positions
            (self.rope_dims > 2 or self.rope_ntk_len == 0, "rope_dims must be at least 4 unless rope_ntk_len = 0"),
            (self.num_flat_layers % 2 == 0, "num_flat_layers must be even (encoder/decoder halves)"),
            (self.crawler_loops >= 0 and self.num_crawler_layers >= 0, "crawler_loops and num_crawler_layers must be >= 0"),
            (not self.loop_rope_scales or len(self.loop_rope_scales) == self.crawler_loops,
             "loop_rope_scales needs one value per crawler loop"),
            (self.qat_flat_bits in (0, 6, 8) and self.qat_crawler_bits in (0, 6, 8), "QAT bits must be 0, 6 or 8"),
            (self.train_batch_tokens % self.train_seq_len == 0, "train_batch_tokens must be a multiple of train_seq_len"),
            (self.eval_stride > 0 and self.eval_stride <= self.eval_seq_len, "eval_stride must be in 1..eval_seq_len"),
            (0.0 <= self.ema_decay < 1.0, "ema_decay must be in [0, 1)"),
        ]
        return require(self, checks)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **overrides) -> "CrawlerConfig":
        return dataclasses.replace(self, **coerce_overrides(overrides)).validate()


GENERIC_BOUND = 2 ** 53  # ints and floats beyond exact float64 integers mean nothing in any field
# Fields whose size sets the work a model does, bounded far above any model that fits the challenge.
BOUNDS: dict[str, tuple[float, float]] = {
    "vocab_size": (2, 65_536),  # the shard format stores uint16 ids
    "model_dim": (2, 16_384), "num_heads": (1, 256), "num_kv_heads": (1, 256),
    "num_flat_layers": (0, 128), "num_crawler_layers": (0, 64), "crawler_loops": (0, 64),
    "mlp_mult": (0.0, 64.0), "crawler_mlp_mult": (0.0, 64.0), "loop_inst_dim": (0, 16_384),
    "bigram_vocab_size": (2, 1 << 20), "bigram_dim": (1, 16_384),
    "train_seq_len": (1, 1 << 17), "eval_seq_len": (1, 1 << 17), "eval_stride": (1, 1 << 17),
    "rope_dims": (2, 1024), "rope_base": (1.0, 1e12), "rope_ntk_len": (0, 1 << 17), "loop_rope_scales": (1e-6, 1e6),
    "logit_softcap": (1e-3, 1e6), "train_batch_tokens": (1, 1 << 30), "val_batch_size": (1, 1 << 30),
    "grad_accum_steps": (0, 4096),
}


# The reference run (`leg3`) is the dataclass default; `tiny` keeps its topology at CPU scale.
PRESETS: dict[str, dict] = {
    "leg3": {},
    "tiny": dict(
        model_dim=128, num_heads=4, num_kv_heads=2, train_seq_len=256, eval_seq_len=256, eval_stride=64,
        bigram_vocab_size=512, bigram_dim=64, train_batch_tokens=4096,
        val_batch_size=65_536, iterations=100_000, warmdown_iters=200, max_wallclock_seconds=270.0,
        val_loss_every=200, train_log_every=25, muon_momentum_warmup_steps=150, compile=False,
        warmup_steps=0, grad_accum_steps=1, run_id="tiny", cpu_step_ms=600.0,
    ),
}

# The challenge's environment variable names, and the few our flags add, onto config fields.
ENV_NAMES: dict[str, str] = {
    "DATA_PATH": "data_path",
    "TOKENIZER_PATH": "tokenizer_path",
    "VOCAB_SIZE": "vocab_size",
    "MODEL_DIM": "model_dim",
    "NUM_HEADS": "num_heads",
    "NUM_KV_HEADS": "num_kv_heads",
    "NUM_FLAT_LAYERS": "num_flat_layers",
    "NUM_CRAWLER_LAYERS": "num_crawler_layers",
    "CRAWLER_LOOPS": "crawler_loops",
    "MLP_MULT": "mlp_mult",
    "CRAWLER_MLP_MULT": "crawler_mlp_mult",
    "TRAIN_SEQ_LEN": "train_seq_len",
    "ROPE_DIMS": "rope_dims",
    "ROPE_BASE": "rope_base",
    "LOGIT_SOFTCAP": "logit_softcap",
    "QK_GAIN_INIT": "qk_gain_init",
    "TIED_EMBED_INIT_STD": "tied_embed_init_std",
    "BIGRAM_VOCAB_SIZE": "bigram_vocab_size",
    "BIGRAM_DIM": "bigram_dim",
    "XSA_CRAWLER": "xsa_crawler",
    "XSA_FLAT": "xsa_flat",
    "CRAWLER_LOOP_ROPE_SCALES": "loop_rope_scales",
    "INST_DIM": "loop_inst_dim",
    "SEED": "seed",
    "ITERATIONS": "iterations",
    "WARMUP_STEPS": "warmup_steps",
    "WARMDOWN_ITERS": "warmdown_iters",
    "TRAIN_BATCH_TOKENS": "train_batch_tokens",
    "GRAD_ACCUM_STEPS": "grad_accum_steps",
    "MAX_WALLCLOCK_SECONDS": "max_wallclock_seconds",
    "VAL_LOSS_EVERY": "val_loss_every",
    "TRAIN_LOG_EVERY": "train_log_every",
    "VAL_BATCH_SIZE": "val_batch_size",
    "VAL_MAX_TOKENS": "val_max_tokens",
    "MATRIX_LR": "matrix_lr",
    "TIED_EMBED_LR": "tied_embed_lr",
    "SCALAR_LR": "scalar_lr",
    "MUON_MOMENTUM": "muon_momentum",
    "MUON_MOMENTUM_WARMUP_START": "muon_momentum_warmup_start",
    "MUON_MOMENTUM_WARMUP_STEPS": "muon_momentum_warmup_steps",
    "MUON_BACKEND_STEPS": "muon_backend_steps",
    "MUON_WD": "muon_wd",
    "BETA1": "beta1",
    "BETA2": "beta2",
    "ADAM_EPS": "adam_eps",
    "ADAM_WD": "adam_wd",
    "GRAD_CLIP_NORM": "grad_clip_norm",
    "QAT_FLAT_BITS": "qat_flat_bits",
    "QAT_CRAWLER_BITS": "qat_crawler_bits",
    "LATE_QAT_THRESHOLD": "qat_threshold",
    "EMA_DECAY": "ema_decay",
    "SWA_EVERY": "swa_every",
    "SWA_THRESHOLD": "swa_threshold",
    "COMPILE_ENABLED": "compile",
    "EVAL_SEQ_LEN": "eval_seq_len",
    "EVAL_STRIDE": "eval_stride",
    "RUN_ID": "run_id",
    "OUT_DIR": "out_dir",
}

_FIELDS = {f.name: f for f in dataclasses.fields(CrawlerConfig)}
_TYPES = typing.get_type_hints(CrawlerConfig)


def shown(value) -> str:
    """A value as an error message may show it: never formatted or converted in a way that can fail
    (a 400-digit integer overflows float formatting; past 4,300 digits even str() refuses)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return type(value).__name__ if isinstance(value, (dict, list, tuple)) else repr(value)[:40]
    if isinstance(value, int):
        if abs(value) < 10 ** 15:
            return str(value)
        try:
            digits = f"{len(str(abs(value)))}"
        except ValueError:  # str() refuses past sys.get_int_max_str_digits()
            digits = "over 4,300"
        return f"{'a negative' if value < 0 else 'an'} integer of {digits} digits"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."


def _int(value) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(value)
        return int(value)
    text = value.strip()
    if len(text) > 40:  # far past any bound; int() of 5,000 digits raises, float() of 400 gives inf
        raise ValueError(value)
    try:
        return int(text)
    except ValueError:
        return _int(float(text))  # "1e3" and "64.0" are integers too


def _float(value) -> float:
    if isinstance(value, int) and abs(value) >= 2 ** 1023:  # float() of it would raise OverflowError
        raise ValueError(value)
    if isinstance(value, str) and len(value.strip()) > 40:
        raise ValueError(value)
    return float(value)


def _coerce(name: str, value):
    if name not in _FIELDS:
        raise ConfigError(f"unknown config field {shown(name)}")
    kind = _TYPES[name]
    kind_name = "a list of numbers" if typing.get_origin(kind) is tuple else kind.__name__
    # a boolean is not a number here (TOML `crawler_loops = true` is a mistake, not 1), nor a table a string
    wrong_type = (kind is bool and not (isinstance(value, (bool, str)) or value in (0, 1))) \
        or (kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float, str)))) \
        or (kind is str and not isinstance(value, str)) \
        or (typing.get_origin(kind) is tuple and not isinstance(value, (str, list, tuple)))
    if wrong_type:
        raise ConfigError(f"config field {name}: expected {kind_name}, got {shown(value)}")
    try:
        if kind is bool:
            if not isinstance(value, str):
                return bool(value)
            if value.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if value.strip().lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if kind is int:
            return _int(value)
        if kind is float:
            return _float(value)
        if kind is str:
            return value
        if typing.get_origin(kind) is tuple:
            if isinstance(value, str):
                value = [v for v in value.replace(" ", "").split(",") if v]
            if len(value) > 64 or any(isinstance(v, bool) or not isinstance(v, (int, float, str)) for v in value):
                raise ValueError(value)
            return tuple(_float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"config field {name}: cannot read {shown(value)} as {kind_name}") from None
    raise ConfigError(f"config field {name} has unsupported type {kind}")


def coerce_overrides(overrides: dict) -> dict:
    return {name: _coerce(name, value) for name, value in overrides.items()}


# The reference scripts read EMBED_LR and use it only for untied embeddings; ours are always tied (their
# default), so it is ignored, as there, and TIED_EMBED_LR counts.
IGNORED_ENV_NAMES = ("EMBED_LR",)


def env_overrides(environ: typing.Mapping[str, str] | None = None) -> dict:
    environ = os.environ if environ is None else environ
    return {ENV_NAMES[k]: v for k, v in environ.items() if k in ENV_NAMES}


def shorten_openmp_spin() -> None:
    """torch's OpenMP threads spin 300,000 times at every barrier before they sleep: on a CPU shared with other
    jobs the spinning thread holds the core its partner needs (tiny preset at load 7 on 2 cores: 12.8 s a step,
    2.2 s with a short spin). A value in the environment wins."""
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")


def torchrun_ranks(environ: typing.Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """(RANK, WORLD_SIZE, LOCAL_RANK) as torchrun sets them; one process (0, 1, 0) without torchrun."""
    environ = os.environ if environ is None else environ
    return int(environ.get("RANK", "0")), int(environ.get("WORLD_SIZE", "1")), int(environ.get("LOCAL_RANK", "0"))


def environment_without_challenge_names(environ: typing.Mapping[str, str] | None = None) -> tuple[dict, list[str]]:
    """The environment without the challenge's variables, and the names dropped (a child run's settings)."""
    environ = dict(os.environ if environ is None else environ)
    dropped = sorted(k for k in environ if k in ENV_NAMES or k in IGNORED_ENV_NAMES)
    for key in dropped:
        del environ[key]
    return environ, dropped


TOML_MAX_BYTES = 1 << 20


def toml_overrides(path: str | Path) -> dict:
    path = Path(path)
    if path.exists() and not path.is_file():  # a named pipe would block the read, /dev/zero never end it
        raise ConfigError(f"{path}: config file is not a regular file")
    try:
        with path.open("rb") as f:
            raw = f.read(TOML_MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: config file: cannot read ({e.strerror or e})") from None
    if len(raw) > TOML_MAX_BYTES:
        raise ConfigError(f"{path}: config file is over {TOML_MAX_BYTES:,} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML (nested too deep)") from None
    except ValueError as e:  # tomllib passes on int()'s refusal of an integer over 4,300 digits
        raise ConfigError(f"{path}: not valid TOML ({str(e)[:80]})") from None
    return {k.lower(): v for k, v in data.items()}


def load_config(preset: str = "leg3", toml_path: str | Path | None = None,
                environ: typing.Mapping[str, str] | None = None, **overrides) -> CrawlerConfig:
    """Preset < TOML < environment < explicit overrides (None values are ignored)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    merged: dict = dict(PRESETS[preset])
    if toml_path is not None:
        merged.update(toml_overrides(toml_path))
    merged.update(env_overrides(environ))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return CrawlerConfig(**coerce_overrides(merged)).validate()


def config_from_dict(data: dict) -> CrawlerConfig:
    """Rebuild a config written by to_dict (unknown keys are an error, missing ones take defaults)."""
    return CrawlerConfig(**coerce_overrides(data)).validate()
