"""An ablation file: a base preset and overrides, a control, arms, seeds, a wallclock, and how to launch.

    name = "tiny_cpu"                # default: the file's stem
    preset = "tiny"
    seeds = [1337, 42]
    wallclock_seconds = 150          # every run's training wallclock cap
    control = "loops3"
    eval_max_tokens = 0              # validation targets the evaluator scores; 0 = the whole split
    results = "tiny_cpu"             # results folder, relative to this file (default: the name)

    [launcher]
    command = "python"               # or "torchrun"
    nproc_per_node = 1

    [base]                           # over the preset, in every arm
    val_loss_every = 0

    [arms.loops3]                    # no overrides: the base itself
    [arms.loops1]
    CRAWLER_LOOPS = 1                # a config field, or the challenge's environment variable name

The file is the only source of settings: the environment's challenge variables (DATA_PATH, SEED, ...)
are ignored for planning and removed from what each run inherits, so a control cannot drift with the
shell it was started from.
"""
from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from crawler.config import ENV_NAMES, IGNORED_ENV_NAMES, PRESETS, ConfigError, CrawlerConfig, load_config
from crawler.contract import RUN_ARTIFACT, RUN_CHECKPOINT
from evaluator.artifacts.paths import evaluation_report

LAUNCHERS = ("python", "torchrun")
_TOP_KEYS = {"name", "description", "preset", "seeds", "wallclock_seconds", "control", "eval_max_tokens", "results",
             "launcher", "base", "arms"}
_LAUNCHER_KEYS = {"command", "nproc_per_node"}
# fields the runner sets per run: a seed and wallclock come from the top level, names and folders from the arm
_RUNNER_FIELDS = {"seed", "max_wallclock_seconds", "run_id", "out_dir"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PlanError(ConfigError):
    pass


@dataclass(frozen=True)
class Arm:
    name: str
    overrides: dict  # config field -> value, as the file wrote it (environment names mapped to fields)


@dataclass(frozen=True)
class RunSpec:
    arm: str
    seed: int
    config: CrawlerConfig

    @property
    def run_id(self) -> str:
        return f"{self.arm}_s{self.seed}"


@dataclass
class AblationPlan:
    path: Path
    name: str
    description: str
    preset: str
    seeds: list[int]
    wallclock_seconds: float
    control: str
    eval_max_tokens: int
    results_dir: Path
    launcher: str
    nproc_per_node: int
    base: dict
    arms: list[Arm]
    text: str = field(repr=False, default="")  # the file as read, kept beside the results

    @property
    def runs_dir(self) -> Path:
        return self.results_dir / "runs"

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise PlanError(f"{self.path}: no arm named {name!r} (arms: {', '.join(a.name for a in self.arms)})")

    def config(self, arm: Arm, seed: int) -> CrawlerConfig:
        try:
            return load_config(self.preset, environ={}, **{**self.base, **arm.overrides}, seed=seed,
                               max_wallclock_seconds=self.wallclock_seconds, out_dir=str(self.runs_dir),
                               run_id=f"{arm.name}_s{seed}")
        except ConfigError as e:
            raise PlanError(f"{self.path}: arm {arm.name}: {e}") from None

    def runs(self) -> list[RunSpec]:
        """Every (arm, seed), control first; each seed's arms together so a stopped ablation stays balanced."""
        ordered = [self.arm(self.control)] + [a for a in self.arms if a.name != self.control]
        return [RunSpec(arm.name, seed, self.config(arm, seed)) for seed in self.seeds for arm in ordered]

    def run_dir(self, spec: RunSpec) -> Path:
        return self.runs_dir / spec.run_id

    def _launch(self, module: str, args: list[str]) -> list[str]:
        if self.launcher == "torchrun":
            return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={self.nproc_per_node}", "-m", module, *args]
        return [sys.executable, "-m", module, *args]

    def command(self, spec: RunSpec) -> list[str]:
        """The trainer, with every setting the file gives this arm."""
        flags = ["--preset", self.preset, "--seed", str(spec.seed), "--max-seconds", repr(self.wallclock_seconds),
                 "--out", str(self.runs_dir), "--run-id", spec.run_id, "--no-progress"]
        for key, value in {**self.base, **self.arm(spec.arm).overrides}.items():
            flags += ["--set", f"{key}={flag_value(value)}"]
        return self._launch("crawler.train_cli", flags)

    def eval_command(self, spec: RunSpec) -> list[str]:
        """`pgolf eval` of the run's artifact, pre-quant from its checkpoint, on the same processes as training."""
        run = self.run_dir(spec)
        return self._launch("pgolf", ["eval", str(run / RUN_ARTIFACT), "--checkpoint",
                                      str(run / RUN_CHECKPOINT), "--max-tokens", str(self.eval_max_tokens),
                                      "--out", str(evaluation_report(run / RUN_ARTIFACT)), "--no-progress"])


def flag_value(value) -> str:
    """A setting as `--set key=value` takes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _overrides(path: Path, where: str, table) -> dict:
    if not isinstance(table, dict):
        raise PlanError(f"{path}: [{where}] must be a table of settings")
    fields = {}
    for key, value in table.items():
        if key in IGNORED_ENV_NAMES:  # what the trainer would silently ignore is a mistake in a plan of settings
            raise PlanError(f"{path}: [{where}] sets {key}, which the trainer ignores (its embeddings are tied: "
                            "TIED_EMBED_LR sets their learning rate)")
        name = ENV_NAMES.get(key, key.lower())
        if name in _RUNNER_FIELDS:
            raise PlanError(f"{path}: [{where}] sets {key}; seeds, wallclock_seconds and folders are set at the top level")
        if isinstance(value, dict):
            raise PlanError(f"{path}: [{where}] {key} is a table; settings are plain values")
        fields[name] = value
    return fields


def _require(path: Path, data: dict, key: str, kind, what: str):
    if key not in data:
        raise PlanError(f"{path}: missing {key} ({what})")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PlanError(f"{path}: {key} must be {what}")
    return value


def load_plan(path: str | Path, results_dir: Path | None = None, default_name: str | None = None) -> AblationPlan:
    """results_dir: where the results are, when not where the file says (for the copy kept in a results
    folder, whose own name then stands in for the original file's stem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise PlanError(f"{path}: ablation file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(f"{path}: unreadable ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise PlanError(f"{path}: not valid TOML ({e})") from None
    except RecursionError:
        raise PlanError(f"{path}: not valid TOML (nested too deep)") from None
    except ValueError as e:  # tomllib passes on int()'s refusal of an integer over 4,300 digits
        raise PlanError(f"{path}: not valid TOML ({str(e)[:80]})") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise PlanError(f"{path}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(_TOP_KEYS))})")

    name = data.get("name", default_name or path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise PlanError(f"{path}: name {name!r} must be letters, digits, '_', '.' or '-'")
    preset = _require(path, data, "preset", str, f"a preset name ({', '.join(PRESETS)})")
    if preset not in PRESETS:
        raise PlanError(f"{path}: unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    seeds = _require(path, data, "seeds", list, "a list of integer seeds")
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) != len(seeds):
        raise PlanError(f"{path}: seeds must be a non-empty list of distinct integers")
    wallclock = _require(path, data, "wallclock_seconds", (int, float), "a number of seconds > 0")
    if wallclock <= 0:
        raise PlanError(f"{path}: wallclock_seconds must be > 0 (every arm trains under the same cap)")
    eval_max_tokens = data.get("eval_max_tokens", 0)
    if not isinstance(eval_max_tokens, int) or isinstance(eval_max_tokens, bool) or eval_max_tokens < 0:
        raise PlanError(f"{path}: eval_max_tokens must be an integer >= 0 (0 = the whole validation split)")

    launcher_table = data.get("launcher", {})
    if not isinstance(launcher_table, dict) or set(launcher_table) - _LAUNCHER_KEYS:
        raise PlanError(f"{path}: [launcher] takes only {', '.join(sorted(_LAUNCHER_KEYS))}")
    launcher = launcher_table.get("command", "python")
    if launcher not in LAUNCHERS:
        raise PlanError(f"{path}: launcher command must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    nproc = launcher_table.get("nproc_per_node", 1)
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1 or (launcher == "python" and nproc != 1):
        raise PlanError(f"{path}: nproc_per_node must be 1 with python, >= 1 with torchrun")

    arms_table = _require(path, data, "arms", dict, "a table of arms ([arms.NAME])")
    arms = []
    for arm_name, table in arms_table.items():
        if not _NAME.match(arm_name):
            raise PlanError(f"{path}: arm name {arm_name!r} must be letters, digits, '_', '.' or '-'")
        arms.append(Arm(arm_name, _overrides(path, f"arms.{arm_name}", table)))
    if len(arms) < 2:
        raise PlanError(f"{path}: an ablation needs a control and at least one other arm")
    control = _require(path, data, "control", str, "the name of one of the arms")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise PlanError(f"{path}: description must be a string")
    results = data.get("results", name)
    if not isinstance(results, str) or not results:
        raise PlanError(f"{path}: results must be a folder path")

    plan = AblationPlan(path=path, name=name, description=description, preset=preset, seeds=list(seeds),
                        wallclock_seconds=float(wallclock), control=control, eval_max_tokens=eval_max_tokens,
                        results_dir=results_dir or path.parent / results, launcher=launcher, nproc_per_node=nproc,
                        base=_overrides(path, "base", data.get("base", {})), arms=arms, text=text)
    plan.arm(control)
    plan.runs()  # every arm's config must be valid before anything trains
    return plan
