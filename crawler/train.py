"""Train the Micro Crawler under a wallclock cap, then export and score the artifact.

One process per GPU under torchrun (RANK / WORLD_SIZE / LOCAL_RANK, torchrun's
protocol), or a single process on one GPU or the CPU:

    torchrun --standalone --nproc_per_node=8 -m crawler.train_cli --preset leg3
    python -m crawler.train_cli --preset tiny    # same flags as `pgolf train`

Schedule, as the challenge's trainer: no LR warmup; `warmup_steps` compile
warm-up steps whose model and optimizer state is thrown away; constant LR, then
a linear warmdown to 0 over the last `warmdown_iters` steps, where the step
count left is estimated from the average step time under the wallclock cap.
Only training steps count against the cap, not validation. Muon trains the
linear layers, AdamW the embeddings and the small control tensors.

Late in training (LR scale below the thresholds) QAT turns on and SWA collects
snapshots. At the end the averaged weights (SWA, else EMA) replace the live
ones, the float checkpoint is saved, the int6+zstd artifact is exported,
reloaded and scored, and the run's final numbers are written as run.json
(crawler.contract.RunSummary) beside train.log.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from crawler.bpb import load_byte_lut
from crawler.config import ConfigError, CrawlerConfig
from crawler.contract import (ARTIFACT_PASSES, CODE_SIZE_LABEL, CONFIG_LABEL, MODEL_SIZE_LABEL, RUN_ARTIFACT,
                              RUN_CHECKPOINT, RUN_CONFIG, RUN_LOG, STOP_LABEL, TOTAL_SIZE_LABEL, BPBResult, MetricKind,
                              RunSummary, Score, final_label)
from crawler.distributed import Dist, setup_dist
from crawler.loader import DistributedTokenLoader
from crawler.model import CastedLinear, CrawlerGPT
from crawler.muon import Muon
from crawler.ptz import export_model, load_artifact
from crawler.scoring import evaluate_bpb
from crawler.shards import load_split
from crawler.shipped import code_files


@dataclass
class TrainResult:
    run_dir: Path
    summary: RunSummary  # what the master rank wrote as run.json


class RunLog:
    """The challenge's log lines, to run_dir/train.log and stdout; a RunLog without a path (rank > 0) is silent."""

    def __init__(self, path: Path | None):
        self.file = open(path, "w") if path else None

    def __call__(self, line: str) -> None:
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()
            tqdm.write(line)

    def close(self) -> None:
        if self.file:
            self.file.close()


def grad_accum_for(cfg: CrawlerConfig, world_size: int) -> int:
    # auto: 8 GPUs' worth of micro-batches, so one GPU takes the same step as the 8-GPU run
    steps = cfg.grad_accum_steps or max(1, 8 // world_size)
    if cfg.train_batch_tokens % (world_size * steps * cfg.train_seq_len):
        raise ConfigError(f"train_batch_tokens {cfg.train_batch_tokens} does not split into sequences of "
                          f"{cfg.train_seq_len} over {world_size} ranks x {steps} accumulation steps")
    return steps


def build_optimizers(gpt: CrawlerGPT, cfg: CrawlerConfig) -> list[torch.optim.Optimizer]:
    """Muon for every linear layer; AdamW for the embedding tables and everything small."""
    matrices = [m.weight for m in gpt.modules() if isinstance(m, CastedLinear)]
    embeddings = [gpt.tok_emb.weight, gpt.bigram.embed.weight]
    taken = {id(p) for p in matrices + embeddings}
    scalars = [p for p in gpt.parameters() if id(p) not in taken]
    adam = torch.optim.AdamW(
        [dict(params=embeddings, lr=cfg.tied_embed_lr, base_lr=cfg.tied_embed_lr),
         dict(params=scalars, lr=cfg.scalar_lr, base_lr=cfg.scalar_lr)],
        betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps, weight_decay=cfg.adam_wd, fused=gpt.tok_emb.weight.is_cuda)
    matrix_opt = Muon(matrices, lr=cfg.matrix_lr, momentum=cfg.muon_momentum, backend_steps=cfg.muon_backend_steps,
                      weight_decay=cfg.muon_wd)
    for group in matrix_opt.param_groups:
        group["base_lr"] = cfg.matrix_lr
    return [adam, matrix_opt]


def lr_scale(cfg: CrawlerConfig, step: int, elapsed_ms: float) -> float:
    """1 until the warmdown, then linear to 0 at the last step (by iterations or by estimated wallclock)."""
    if cfg.warmdown_iters <= 0:
        return 1.0
    scale = (cfg.iterations - step) / cfg.warmdown_iters
    if cfg.max_wallclock_seconds > 0 and step > 0:
        remaining_ms = max(1000.0 * cfg.max_wallclock_seconds - elapsed_ms, 0.0)
        scale = min(scale, remaining_ms / (cfg.warmdown_iters * elapsed_ms / step))
    return max(0.0, min(1.0, scale))


def muon_momentum(cfg: CrawlerConfig, step: int) -> float:
    frac = min(step / cfg.muon_momentum_warmup_steps, 1.0) if cfg.muon_momentum_warmup_steps > 0 else 1.0
    return (1 - frac) * cfg.muon_momentum_warmup_start + frac * cfg.muon_momentum


def train_step(net, gpt: CrawlerGPT, optimizers, next_batch, grad_accum: int, cfg: CrawlerConfig, step: int,
               scale: float, autocast) -> torch.Tensor:
    """One optimizer step over grad_accum micro-batches; `net` is what runs forward (DDP / compiled / gpt)."""
    total = torch.zeros((), device=gpt.tok_emb.weight.device)
    for micro in range(grad_accum):
        sync = micro == grad_accum - 1 or not isinstance(net, DDP)
        x, y = next_batch()
        with contextlib.nullcontext() if sync else net.no_sync():
            with autocast:
                loss = net(x, y)
            (loss / grad_accum).backward()
        total += loss.detach()
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * scale
            if isinstance(opt, Muon):
                group["momentum"] = muon_momentum(cfg, step)
    if cfg.grad_clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), cfg.grad_clip_norm)
    for opt in optimizers:
        opt.step()
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    if gpt.qat_enabled:
        gpt.set_qat(True)  # re-quantise the updated weights
    return total / grad_accum


class WeightAverage:
    """EMA of the weights every step, and SWA: the mean of snapshots every swa_every steps late in training.

    SWA snapshots are taken from the EMA weights when both are on. `final()` is
    the SWA mean if any snapshot was taken, else the EMA, else None.
    """

    def __init__(self, gpt: CrawlerGPT, cfg: CrawlerConfig):
        self.gpt, self.cfg = gpt, cfg
        params = {k: v.detach() for k, v in gpt.state_dict().items()}
        self.ema = {k: v.float().clone() for k, v in params.items()} if cfg.ema_decay > 0 else None
        self.swa = None
        self.swa_count = 0

    @torch.no_grad()
    def update(self, step: int, scale: float) -> bool:
        """Returns True when this step took the first SWA snapshot."""
        if self.ema is not None:
            for k, v in self.gpt.state_dict().items():
                self.ema[k].lerp_(v.float(), 1.0 - self.cfg.ema_decay)
        if not (self.cfg.swa_every > 0 and scale < self.cfg.swa_threshold and step % self.cfg.swa_every == 0):
            return False
        source = self.ema if self.ema is not None else {k: v.float() for k, v in self.gpt.state_dict().items()}
        if self.swa is None:
            self.swa = {k: v.clone() for k, v in source.items()}
        else:
            for k, v in source.items():
                self.swa[k] += v
        self.swa_count += 1
        return self.swa_count == 1

    def final(self) -> tuple[str, dict] | None:
        if self.swa_count:
            return f"swa snapshots:{self.swa_count}", {k: v / self.swa_count for k, v in self.swa.items()}
        if self.ema is not None:
            return f"ema decay:{self.cfg.ema_decay}", self.ema
        return None


def save_checkpoint(gpt: CrawlerGPT, cfg: CrawlerConfig, run_dir: Path) -> Path:
    """Float weights as safetensors (config JSON in its metadata and beside it); no pickle."""
    path = run_dir / RUN_CHECKPOINT
    meta = {"config": json.dumps(cfg.to_dict())}
    save_file({k: v.detach().contiguous().cpu() for k, v in gpt.state_dict().items()}, str(path), metadata=meta)
    (run_dir / RUN_CONFIG).write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
    return path


SLOW_STEP_FACTOR = 4.0  # a fair share of 2 cores among a few jobs costs 2-3x; past this, the run is starved


def slow_step_warning(cfg: CrawlerConfig, step_ms: float) -> str | None:
    """One line when CPU steps take far longer than the preset's, saying why if the load says so, and what it costs."""
    if cfg.cpu_step_ms <= 0 or step_ms <= SLOW_STEP_FACTOR * cfg.cpu_step_ms:
        return None
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = f"the load average is {load:.1f} on {cores} cores" if load > cores else "the machine is slower than expected"
    cap = (f": the {cfg.max_wallclock_seconds:g} s cap allows about {1000 * cfg.max_wallclock_seconds / step_ms:,.0f} "
           "steps, so the model will be undertrained") if cfg.max_wallclock_seconds > 0 else ""
    return (f"warning: slow steps: {step_ms:,.0f} ms each, {step_ms / cfg.cpu_step_ms:.0f}x the {cfg.cpu_step_ms:g} ms "
            f"this preset takes on 2 idle CPU cores; {busy}{cap}")


def train(cfg: CrawlerConfig, progress: bool = True) -> TrainResult:
    cfg.validate()
    d = setup_dist()
    try:
        return _train(cfg, d, progress)
    finally:
        if d.enabled and dist.is_initialized():
            dist.destroy_process_group()


class Run:
    """What every phase of a run shares: the config, the process, the data, the log, the model and how it steps."""

    def __init__(self, cfg: CrawlerConfig, d: Dist, progress: bool):
        self.cfg, self.d, self.progress = cfg, d, progress
        self.cuda = d.device.type == "cuda"
        # the data and the tokenizer are read before the run folder is made: a bad one leaves nothing behind
        self.val_tokens = load_split(cfg.data_path, "val", cfg.vocab_size)
        self.lut = load_byte_lut(cfg.tokenizer_file, cfg.vocab_size)
        self.new_loader()
        self.run_dir = Path(cfg.out_dir) / cfg.run_id
        if d.master:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log = RunLog(self.run_dir / RUN_LOG if d.master else None)
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.grad_accum = grad_accum_for(cfg, d.world_size)
        self.compiled = cfg.compile and self.cuda
        torch.manual_seed(cfg.seed)
        self.gpt = CrawlerGPT(cfg).to(d.device)
        self.net = torch.compile(self.gpt, dynamic=False) if self.compiled else self.gpt  # what runs forward
        if d.enabled:
            self.net = DDP(self.net, device_ids=[d.local_rank] if self.cuda else None, broadcast_buffers=False,
                           find_unused_parameters=cfg.crawler_loops == 0)
        self.optimizers = build_optimizers(self.gpt, cfg)

    def new_loader(self) -> None:
        self.train_loader = DistributedTokenLoader(self.cfg.data_path, self.d.rank, self.d.world_size, self.d.device,
                                                   self.cfg.vocab_size)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def step(self, step: int, scale: float) -> torch.Tensor:
        cfg = self.cfg
        next_batch = lambda: self.train_loader.next_batch(cfg.train_batch_tokens, cfg.train_seq_len, self.grad_accum)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else contextlib.nullcontext()
        return train_step(self.net, self.gpt, self.optimizers, next_batch, self.grad_accum, cfg, step, scale, autocast)

    def validate(self) -> BPBResult:
        cfg, d = self.cfg, self.d
        model = self.net.module if isinstance(self.net, DDP) else self.net
        seqs = max(1, cfg.val_batch_size // (d.world_size * cfg.train_seq_len))
        return evaluate_bpb(model, self.val_tokens, self.lut, cfg.train_seq_len, cfg.train_seq_len, seqs, d.device,
                            max_tokens=cfg.val_max_tokens, rank=d.rank, world_size=d.world_size, progress=self.progress)


def log_header(run: Run) -> None:
    cfg, d, log, gpt = run.cfg, run.d, run.log, run.gpt
    log(f"run_id:{cfg.run_id} run_dir:{run.run_dir}")
    log(f"{CONFIG_LABEL}{json.dumps(cfg.to_dict(), separators=(',', ':'))}")
    log(f"device:{d.device} torch:{torch.__version__} dtype:{'bf16-autocast' if run.cuda else 'fp32'}")
    log(f"train_loader:shards:{len(run.train_loader.stream.files)} val_tokens:{len(run.val_tokens)}")
    log(f"model_params:{sum(p.numel() for p in gpt.parameters())}")
    log(f"layout:flat:{cfg.num_flat_layers} crawler:{cfg.num_crawler_layers}x{cfg.crawler_loops} "
        f"block_applications:{gpt.num_block_applications()} xsa_crawler:{int(cfg.xsa_crawler)} xsa_flat:{int(cfg.xsa_flat)}")
    log(f"world_size:{d.world_size} grad_accum_steps:{run.grad_accum}")
    log(f"num_heads:{cfg.num_heads} num_kv_heads:{cfg.num_kv_heads} embed_lr:{cfg.tied_embed_lr} "
        f"matrix_lr:{cfg.matrix_lr} scalar_lr:{cfg.scalar_lr}")
    log(f"train_batch_tokens:{cfg.train_batch_tokens} train_seq_len:{cfg.train_seq_len} iterations:{cfg.iterations} "
        f"warmup_steps:{cfg.warmup_steps} max_wallclock_seconds:{cfg.max_wallclock_seconds:.3f}")
    log(f"compile:enabled={int(run.compiled)}")
    log(f"seed:{cfg.seed}")


def compile_warmup(run: Run) -> None:
    """Real steps (QAT on for the second half, so both graphs get compiled), then back to the initial state."""
    cfg, gpt = run.cfg, run.gpt
    init_model = copy.deepcopy(gpt.state_dict())
    init_opts = [copy.deepcopy(opt.state_dict()) for opt in run.optimizers]
    qat = cfg.qat_flat_bits > 0 or cfg.qat_crawler_bits > 0
    for i in range(cfg.warmup_steps):
        gpt.set_qat(qat and i >= cfg.warmup_steps // 2)
        run.step(0, 1.0)
        run.log(f"warmup_step:{i + 1}/{cfg.warmup_steps}")
    gpt.set_qat(False)
    gpt.load_state_dict(init_model)
    for opt, state in zip(run.optimizers, init_opts):
        opt.load_state_dict(state)
    run.new_loader()


def training_loop(run: Run, average: WeightAverage) -> RunSummary:
    """Steps until `iterations` or the wallclock cap, validating every val_loss_every steps and at the end; the
    run's numbers so far, the last validation as pre_quant."""
    cfg, d, log, gpt = run.cfg, run.d, run.log, run.gpt
    qat_on = False
    max_ms = 1000.0 * cfg.max_wallclock_seconds if cfg.max_wallclock_seconds > 0 else math.inf
    # the bar counts towards whichever limit ends the run first, the step count or the wallclock cap
    bar = tqdm(total=1.0, desc="train", bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
               disable=not run.progress or not d.master, leave=False)
    train_ms, stop_after, step = 0.0, None, 0
    run.sync()
    t0 = time.perf_counter()
    while True:
        last = step == cfg.iterations or (stop_after is not None and step >= stop_after)
        if last or (cfg.val_loss_every > 0 and step % cfg.val_loss_every == 0):
            run.sync()
            train_ms += 1000.0 * (time.perf_counter() - t0)
            val = run.validate()
            log(f"step:{step}/{cfg.iterations} val_loss:{val.val_loss:.4f} val_bpb:{val.val_bpb:.4f} "
                f"train_time:{train_ms:.0f}ms step_avg:{train_ms / max(step, 1):.2f}ms")
            run.sync()
            t0 = time.perf_counter()
        if last:
            stopped_early = stop_after is not None and step < cfg.iterations
            if stopped_early:
                log(f"{STOP_LABEL} train_time:{train_ms:.0f}ms step:{step}/{cfg.iterations}")
            break
        scale = lr_scale(cfg, step, train_ms + 1000.0 * (time.perf_counter() - t0))
        if not qat_on and (cfg.qat_flat_bits or cfg.qat_crawler_bits) and scale < cfg.qat_threshold:
            gpt.set_qat(True)
            qat_on = True
            log(f"qat:start step:{step} lr_scale:{scale:.4f} flat_bits:{cfg.qat_flat_bits} "
                f"crawler_bits:{cfg.qat_crawler_bits}")
        train_loss = run.step(step, scale)
        step += 1
        if average.update(step, scale):
            log(f"swa:start step:{step}")
        elapsed = train_ms + 1000.0 * (time.perf_counter() - t0)
        if step == 1:
            first_step_ms = elapsed  # the first step also allocates everything: timed apart
        elif step == 6 and d.device.type == "cpu" and (warning := slow_step_warning(cfg, (elapsed - first_step_ms) / 5)):
            log(warning)
        if cfg.train_log_every > 0 and (step <= 10 or step % cfg.train_log_every == 0 or stop_after is not None):
            log(f"step:{step}/{cfg.iterations} train_loss:{train_loss.item():.4f} train_time:{elapsed:.0f}ms "
                f"step_avg:{elapsed / step:.2f}ms")
        bar.n = min(1.0, max(step / cfg.iterations, elapsed / max_ms))
        bar.set_postfix_str(f"step {step}")
        reached = elapsed >= max_ms
        if d.enabled:
            flag = torch.tensor(int(reached), device=d.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every rank stops at the same step
            reached = bool(flag.item())
        if stop_after is None and reached:
            stop_after = step
    bar.close()
    gpt.set_qat(False)
    if run.cuda:
        log(f"peak memory allocated: {torch.cuda.max_memory_allocated() // 2**20} MiB "
            f"reserved: {torch.cuda.max_memory_reserved() // 2**20} MiB")
    return RunSummary(cfg.run_id, cfg.seed, d.world_size, step, cfg.iterations, train_ms, stopped_early,
                      Score.of(val))


def apply_average(run: Run, average: WeightAverage, summary: RunSummary) -> None:
    """The averaged weights (SWA, else EMA) replace the live ones; their validation is the pre_quant score."""
    averaged = average.final()
    if averaged is None:
        return
    label, weights = averaged
    run.gpt.load_state_dict(weights)
    run.log(f"average:applied {label}")
    val = run.validate()
    run.log(f"post_average val_loss:{val.val_loss:.4f} val_bpb:{val.val_bpb:.4f}")
    summary.pre_quant = Score.of(val)


def export(run: Run, summary: RunSummary) -> None:
    """The float checkpoint and the artifact, written by the master rank, their sizes into the summary. run.json
    is written before the size lines are printed: a run stopped once they are out (benchmarks/gpu_check.py)
    leaves its training numbers and sizes; the artifact's scores complete it at the end."""
    if run.d.master:
        ckpt = save_checkpoint(run.gpt, run.cfg, run.run_dir)
        run.log(f"Serialized model: {ckpt.stat().st_size} bytes")
        shipped = code_files()
        artifact_path = run.run_dir / RUN_ARTIFACT
        sizes = export_model(run.gpt, run.cfg, run.cfg.tokenizer_file, shipped, artifact_path)
        summary.code_bytes, summary.model_bytes = sizes["code_bytes"], sizes["model_bytes"]
        summary.total_bytes, summary.codec = sizes["total_bytes"], sizes["codec"]
        summary.write(run.run_dir)
        run.log(f"artifact:{artifact_path} codec:{sizes['codec']} code_files:{len(shipped)}")
        run.log(f"{CODE_SIZE_LABEL} {sizes['code_bytes']} bytes")
        run.log(f"{MODEL_SIZE_LABEL} {sizes['model_bytes']} bytes")
        run.log(f"{TOTAL_SIZE_LABEL} {sizes['total_bytes']} bytes")
    if run.d.enabled:
        dist.barrier()


def score_artifact(run: Run) -> dict[str, Score]:
    """The artifact reloaded from disk, scored by every artifact pass: what the submission scores."""
    cfg, d, log = run.cfg, run.d, run.log
    loaded_cfg, state, _ = load_artifact(run.run_dir / RUN_ARTIFACT)
    model = CrawlerGPT(loaded_cfg).to(d.device)
    model.load_state_dict(state)
    model = torch.compile(model, dynamic=False) if run.compiled else model
    seqs = max(1, cfg.val_batch_size // (d.world_size * cfg.eval_seq_len))
    scores = {}
    for kind in ARTIFACT_PASSES:
        sliding = kind == MetricKind.SLIDING_WINDOW
        stride = cfg.eval_stride if sliding else cfg.eval_seq_len
        r = evaluate_bpb(model, run.val_tokens, run.lut, cfg.eval_seq_len, stride, seqs, d.device,
                         rank=d.rank, world_size=d.world_size, progress=run.progress)
        log(f"{final_label(kind)} val_loss:{r.val_loss:.4f} val_bpb:{r.val_bpb:.4f}"
            f"{f' stride:{stride}' if sliding else ''} eval_time:{1000 * r.seconds:.0f}ms")
        log(f"{final_label(kind, exact=True)} val_loss:{r.val_loss:.8f} val_bpb:{r.val_bpb:.8f}")
        scores[kind.value] = Score.of(r, stride if sliding else None)
    return scores


def _train(cfg: CrawlerConfig, d: Dist, progress: bool) -> TrainResult:
    run = Run(cfg, d, progress)
    log_header(run)
    if cfg.warmup_steps > 0:
        compile_warmup(run)
    average = WeightAverage(run.gpt, cfg)
    summary = training_loop(run, average)
    apply_average(run, average, summary)
    export(run, summary)
    summary.scores = score_artifact(run)
    if d.master:
        summary.write(run.run_dir)
    run.log.close()
    return TrainResult(run.run_dir, summary)
