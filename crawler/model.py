"""The Micro Crawler language model.

Layout (leg3): embeddings -> 2 flat encoder blocks -> one shared crawler block
applied 3 times -> 2 flat decoder blocks with U-Net skips -> tied head.

    x = rms_norm(tok_emb[ids] + bigram(ids)); x = smear(x); x0 = x
    encoder:  x = flat_i(x, x0), remember x                  i < F/2
    crawler:  for loop in range(L): x += inst(loop); x = crawler_j(x, x0)
    decoder:  x += skip_weights[i] * (last remembered x); x = flat_{F/2+i}(x, x0)
    logits = 30 * tanh((rms_norm(x) @ tok_emb.T) / 30)

Switches that are off in leg3 and change the computation when on:
loop_rope_scales (per-loop RoPE base multipliers), loop_inst_dim (trained
per-loop instruction vectors: `loop_inst` (crawler_loops, inst_dim) projected by
`loop_inst_proj` (dim, inst_dim) and added to the residual stream before each
crawler loop), xsa_flat (XSA in the flat blocks too), and QAT (set_qat: the
block matrices run on crawler.quant.fake_quantize's export grid).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crawler.config import CrawlerConfig
from crawler.quant import fake_quantize

try:
    from flash_attn import flash_attn_func
except ImportError:
    flash_attn_func = None


def rms_norm(x: Tensor) -> Tensor:
    return F.rms_norm(x, (x.size(-1),))


class CastedLinear(nn.Linear):
    """Bias-free linear layer that can run on its weight fake-quantised to the export grid (QAT).

    The quantised copy is a buffer refreshed after every weight update rather than
    recomputed in forward: a crawler matrix is quantised once per step, not once per
    loop, and the compiled graph never traces the quantiser.
    """

    def __init__(self, in_features: int, out_features: int, zero_init: bool = False):
        super().__init__(in_features, out_features, bias=False)
        self.zero_init = zero_init
        self.qat_bits = 0
        self.register_buffer("qat_weight", None, persistent=False)

    @torch.no_grad()
    def set_qat_bits(self, bits: int) -> None:
        self.qat_bits = bits
        if not bits:
            self.qat_weight = None
        elif self.qat_weight is None:
            self.qat_weight = fake_quantize(self.weight, bits)
        else:
            self.qat_weight.copy_(fake_quantize(self.weight, bits))  # in place: compiled graphs keep their input

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        if self.qat_bits:
            w = w + (self.qat_weight - w).detach()  # forward on the grid, gradient straight through to w
        return F.linear(x, w.to(x.dtype))


def rotary(seq_len: int, rope_dims: int, base: float, ntk_len: int, device) -> tuple[Tensor, Tensor]:
    """cos, sin of shape (T, 1, rope_dims/2), broadcastable over (B, T, H, rope_dims/2), as the reference script's Rotary.

    The reference builds every Rotary with a train length of 1024 (ntk_len) whatever it trains at: up to that
    many positions it uses its inv_freq buffer, which the model's bf16 cast has rounded to bf16; beyond, a
    fresh float32 inv_freq of the NTK-grown base base * (T / ntk_len) ** (rd / (rd - 2)). ntk_len 0 is the
    format-1 convention: one float32 base at every length.
    """
    exponents = torch.arange(0, rope_dims, 2, device=device, dtype=torch.float32) / rope_dims
    if ntk_len and seq_len > ntk_len:
        inv_freq = 1.0 / ((base * (seq_len / ntk_len) ** (rope_dims / (rope_dims - 2))) ** exponents)
    else:
        inv_freq = 1.0 / (base ** exponents)
        if ntk_len:
            inv_freq = inv_freq.bfloat16().float()
    freqs = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    return freqs.cos()[:, None, :], freqs.sin()[:, None, :]


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    # partial RoPE: rotate (x1, x2) half-split pairs of the first rope_dims dims by -angle (the reference's
    # direction), pass the rest through
    half = cos.size(-1)
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos, rest), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: CrawlerConfig, xsa: bool):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        kv_dim = cfg.num_kv_heads * cfg.head_dim
        self.c_q = CastedLinear(cfg.model_dim, cfg.model_dim)
        self.c_k = CastedLinear(cfg.model_dim, kv_dim)
        self.c_v = CastedLinear(cfg.model_dim, kv_dim)
        self.proj = CastedLinear(cfg.model_dim, cfg.model_dim, zero_init=True)
        self.q_gain = nn.Parameter(torch.full((cfg.num_heads,), cfg.qk_gain_init))
        self.xsa = xsa

    def qk(self, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
        """Queries (B, T, H, D) and keys (B, T, KV, D) as attention compares them: normed, rotated, q scaled."""
        B, T, _ = x.shape
        q = rms_norm(self.c_q(x).view(B, T, self.num_heads, self.head_dim))
        k = rms_norm(self.c_k(x).view(B, T, self.num_kv_heads, self.head_dim))
        return apply_rotary(q, cos, sin) * self.q_gain.to(q.dtype)[:, None], apply_rotary(k, cos, sin)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, T, _ = x.shape
        H, KV, D = self.num_heads, self.num_kv_heads, self.head_dim
        q, k = self.qk(x, cos, sin)
        v = self.c_v(x).view(B, T, KV, D)
        if flash_attn_func is not None and x.is_cuda:
            y = flash_attn_func(q.bfloat16(), k.bfloat16(), v.bfloat16(), causal=True).to(v.dtype)  # (B, T, H, D)
        else:
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               is_causal=True, enable_gqa=True).transpose(1, 2)
        if self.xsa:
            # XSA: drop the component of each head's output along its own token's value direction
            y = y.view(B, T, KV, H // KV, D)
            vn = F.normalize(v, dim=-1).unsqueeze(3)  # (B, T, KV, 1, D), shared by the query heads of a group
            y = y - (y * vn).sum(-1, keepdim=True) * vn
        return self.proj(y.reshape(B, T, H * D))


class MLP(nn.Module):
    def __init__(self, dim: int, mult: float):
        super().__init__()
        hidden = int(mult * dim)
        self.fc = CastedLinear(dim, hidden)
        self.proj = CastedLinear(hidden, dim, zero_init=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, cfg: CrawlerConfig, layer_index: int, mlp_mult: float, xsa: bool):
        super().__init__()
        dim = cfg.model_dim
        self.attn = Attention(cfg, xsa)
        self.mlp = MLP(dim, mlp_mult)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))))
        # deeper blocks see a smaller normalised input, as in the reference
        self.ln_scale = 1.0 / math.sqrt(layer_index + 1)

    def forward(self, x: Tensor, x0: Tensor, cos: Tensor, sin: Tensor, on_attention=None) -> Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        h = rms_norm(x) * self.ln_scale
        if on_attention is not None:
            on_attention(self.attn, h, cos, sin)
        x = x + self.attn_scale.to(x.dtype) * self.attn(h, cos, sin)
        return x + self.mlp_scale.to(x.dtype) * self.mlp(rms_norm(x) * self.ln_scale)


class BigramHash(nn.Module):
    """Hashed (previous, current) token pair embedding, projected to model_dim and scaled."""

    def __init__(self, cfg: CrawlerConfig):
        super().__init__()
        self.buckets = cfg.bigram_vocab_size
        self.embed = nn.Embedding(cfg.bigram_vocab_size, cfg.bigram_dim)
        self.proj = CastedLinear(cfg.bigram_dim, cfg.model_dim)
        self.scale = nn.Parameter(torch.tensor(0.05))

    def bucket_ids(self, ids: Tensor) -> Tensor:
        mod = self.buckets - 1
        pairs = torch.bitwise_xor(36313 * ids[:, 1:], 27191 * ids[:, :-1]) % mod
        # the first position has no previous token: it gets the one bucket hashing never produces
        return torch.cat((torch.full_like(ids[:, :1], mod), pairs), dim=1)

    def forward(self, ids: Tensor) -> Tensor:
        return self.proj(self.embed(self.bucket_ids(ids))) * self.scale


class SmearGate(nn.Module):
    """Blend each position with the previous one through a learned per-channel gate."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate).to(x.dtype)
        prev = F.pad(x[:, :-1], (0, 0, 1, 0))
        return (1 - g) * x + g * prev


class CrawlerGPT(nn.Module):
    def __init__(self, cfg: CrawlerConfig):
        super().__init__()
        cfg.validate()
        self.config = cfg
        F_, C = cfg.num_flat_layers, cfg.num_crawler_layers
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.model_dim)
        self.bigram = BigramHash(cfg)
        self.smear = SmearGate(cfg.model_dim)
        self.skip_weights = nn.Parameter(torch.ones(F_ // 2, cfg.model_dim))
        self.flat_blocks = nn.ModuleList(Block(cfg, i, cfg.mlp_mult, cfg.xsa_flat) for i in range(F_))
        self.crawler_blocks = nn.ModuleList(Block(cfg, F_ + j, cfg.crawler_mlp_mult, cfg.xsa_crawler) for j in range(C))
        if cfg.loop_inst_dim > 0:
            self.loop_inst = nn.Parameter(torch.randn(cfg.crawler_loops, cfg.loop_inst_dim))
            self.loop_inst_proj = CastedLinear(cfg.loop_inst_dim, cfg.model_dim)
        self.rope_scales = tuple(cfg.loop_rope_scales) or (1.0,) * cfg.crawler_loops
        self._init_weights()

    def _init_weights(self):
        cfg = self.config
        nn.init.normal_(self.tok_emb.weight, std=cfg.tied_embed_init_std)
        nn.init.zeros_(self.bigram.embed.weight)
        for module in self.modules():
            if isinstance(module, CastedLinear):
                if module.zero_init:
                    nn.init.zeros_(module.weight)
                elif min(module.weight.shape) >= 64:
                    nn.init.orthogonal_(module.weight)
        with torch.no_grad():
            # the reference's rule for output projections, 1/sqrt(2 * distinct blocks); the blocks' own are zero-init
            self.bigram.proj.weight.mul_(1.0 / math.sqrt(2 * max(1, cfg.num_flat_layers + cfg.num_crawler_layers)))
            if cfg.loop_inst_dim > 0:
                # instructions start as a gentle, distinct nudge per loop (rms ~0.1 per channel)
                self.loop_inst_proj.weight.normal_(std=0.1 / math.sqrt(cfg.loop_inst_dim))

    def set_qat(self, enabled: bool) -> None:
        """Run block matrices on the export grid (qat_flat_bits / qat_crawler_bits); call again after every
        weight change (optimizer step, load_state_dict) to refresh the quantised copies."""
        for blocks, bits in ((self.flat_blocks, self.config.qat_flat_bits),
                             (self.crawler_blocks, self.config.qat_crawler_bits)):
            for module in blocks.modules():
                if isinstance(module, CastedLinear):
                    module.set_qat_bits(bits if enabled else 0)

    @property
    def qat_enabled(self) -> bool:
        return any(m.qat_bits for m in self.modules() if isinstance(m, CastedLinear))

    def num_block_applications(self) -> int:
        return self.config.num_flat_layers + self.config.num_crawler_layers * self.config.crawler_loops

    def _run_block(self, name: str, loop: int, block: Block, x: Tensor, x0: Tensor, rope: tuple[Tensor, Tensor],
                   hidden: list | None, on_attention) -> Tensor:
        # every block application passes here: analysis keys what it sees by (name, loop), since a shared
        # block runs once per loop and its modules alone cannot tell the loops apart
        watch = None if on_attention is None else lambda attn, h, cos, sin: on_attention((name, loop), attn, h, cos, sin)
        x = block(x, x0, *rope, on_attention=watch)
        if hidden is not None:
            hidden.append((name, loop, x))
        return x

    def trunk(self, ids: Tensor, hidden: list | None = None, on_attention=None) -> Tensor:
        """Final normalised residual stream (B, T, dim); appends (block name, loop, output) to `hidden` if given,
        and calls on_attention((block name, loop), attn, input, cos, sin) before every attention if given."""
        cfg = self.config
        if ids.ndim != 2:
            raise ValueError(f"ids must have shape (batch, seq), got {tuple(ids.shape)}")
        T = ids.size(1)
        ropes = {s: rotary(T, cfg.rope_dims, cfg.rope_base * s, cfg.rope_ntk_len, ids.device) for s in {1.0, *self.rope_scales}}
        x = rms_norm(self.tok_emb(ids) + self.bigram(ids))
        x = self.smear(x)
        x0 = x
        half = cfg.num_flat_layers // 2
        skips = []
        for i in range(half):
            x = self._run_block(f"flat_blocks.{i}", 0, self.flat_blocks[i], x, x0, ropes[1.0], hidden, on_attention)
            skips.append(x)
        for loop in range(cfg.crawler_loops):
            if cfg.loop_inst_dim > 0:
                x = x + self.loop_inst_proj(self.loop_inst[loop].to(x.dtype))
            for j, block in enumerate(self.crawler_blocks):
                x = self._run_block(f"crawler_blocks.{j}", loop, block, x, x0, ropes[self.rope_scales[loop]], hidden,
                                    on_attention)
        for i in range(half):
            x = x + self.skip_weights[i].to(x.dtype) * skips.pop()
            x = self._run_block(f"flat_blocks.{half + i}", 0, self.flat_blocks[half + i], x, x0, ropes[1.0], hidden,
                                on_attention)
        return rms_norm(x)

    def head(self, x: Tensor) -> Tensor:
        """Softcapped fp32 logits (B, T, V) of a normalised residual stream (the tied embedding reads it)."""
        logits = F.linear(x, self.tok_emb.weight.to(x.dtype)).float()
        cap = self.config.logit_softcap
        return cap * torch.tanh(logits / cap)

    def forward(self, ids: Tensor, targets: Tensor | None = None) -> Tensor:
        """Softcapped fp32 logits (B, T, V), or the mean cross-entropy when targets are given."""
        logits = self.head(self.trunk(ids))
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
