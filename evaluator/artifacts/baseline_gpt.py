"""The official baseline GPT (the challenge's train_gpt.py), written out plainly so its artifacts can be scored.

The architecture, as the baseline trains it:
  x = rms_norm(tok_emb[ids]); x0 = x
  the first num_layers // 2 blocks push their outputs on a stack; each later block first adds
  skip_weights[i] * (the latest pushed output), as in a U-Net, while pushed outputs remain
  block:  x = resid_mix[0] * x + resid_mix[1] * x0
          x = x + attn_scale * attn(rms_norm(x))
          x = x + mlp_scale * proj(relu(fc(rms_norm(x))) ** 2)
  attn:   causal GQA; q and k are rms-normed per head, rotated (RoPE on the whole head, pairs (i, i + d/2)),
          and q is scaled by a learned gain per head
  logits = softcap * tanh((rms_norm(x) @ W.T) / softcap), W = tok_emb (tied) or lm_head

Weights say the widths, depth, head counts and tying; the rest (rope base 10000, softcap 30, sequence length
1024) are the baseline's defaults. The rotary tables are the ones the baseline runs with, which are not
float32 tables: its main() casts the model to bf16 and restores only the parameters to float32, so the
rotary buffer of inverse frequencies stays bf16, and the cos/sin cache it fills is bf16. Everything in
between happens inside one torch.compile'd CUDA kernel, where Inductor's Triton code computes in float32
(bf16 inputs are upcast, and torch.arange's int-to-bf16 cast becomes a cast to float32: see to_dtype in
torch/_inductor/codegen/triton.py), so the positions are exact and only the stored tables are rounded.
`rotary_tables` computes exactly that: bf16(cos(position * bf16(inv_freq))), the product being exact in
float32. The first compiled step fills the cache; every later one, the final eval_val included, reads it.
(Eager PyTorch would round the positions above 256 and the angles to bf16 as well, and Inductor's C++ code
on a CPU the positions; the baseline requires CUDA, so no run of it did either.)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crawler.config import ConfigError, CrawlerConfig, require
from crawler.ptz import ArtifactError

# the defaults of the baseline's Hyperparameters that its weights do not record
ASSUMPTIONS = ("rope_base=10000, logit_softcap=30 and train_seq_len=1024 are not in the weights: "
               "taken from the baseline's defaults",
               "rotary tables as the baseline's compiled CUDA model computes them: bf16 inverse frequencies, "
               "float32 angles, tables rounded to bf16")


@dataclass
class BaselineConfig:
    vocab_size: int = 1024
    num_layers: int = 9
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    mlp_hidden: int = 1024  # the baseline's MLP_MULT x model_dim
    tie_embeddings: bool = True
    rope_base: float = 10000.0
    logit_softcap: float = 30.0
    train_seq_len: int = 1024  # roundtrip windows, as the baseline's eval_val
    # the baseline has no sliding evaluation: windows of its training length, scored 64 targets at a time
    eval_seq_len: int = 1024
    eval_stride: int = 64
    # where `pgolf eval` looks for data when no path is given: the toolkit's default, as for every format
    data_path: str = CrawlerConfig.data_path
    tokenizer_path: str = ""

    # the same rules as the crawler's: the tokenizer beside the data unless named, heads that split the width
    tokenizer_file = CrawlerConfig.tokenizer_file
    head_dim = CrawlerConfig.head_dim

    def validate(self) -> "BaselineConfig":
        checks = [
            (min(self.vocab_size, self.num_layers, self.model_dim, self.num_heads, self.num_kv_heads,
                 self.mlp_hidden) > 0, "every size must be positive"),
            (self.model_dim % self.num_heads == 0, "model_dim must be divisible by num_heads"),
            (self.num_heads % self.num_kv_heads == 0, "num_heads must be divisible by num_kv_heads"),
            (self.head_dim % 2 == 0, "head_dim must be even"),
            (self.logit_softcap > 0, "logit_softcap must be positive"),
            (self.train_seq_len > 0, "train_seq_len must be positive"),
            (0 < self.eval_stride <= self.eval_seq_len, "eval_stride must be in 1..eval_seq_len"),
        ]
        return require(self, checks)

    to_dict = CrawlerConfig.to_dict

    def replace(self, **overrides) -> "BaselineConfig":
        return dataclasses.replace(self, **overrides).validate()


def rotary_tables(head_dim: int, seq_len: int, base: float, device=None) -> tuple[Tensor, Tensor]:
    """cos, sin of shape (seq_len, head_dim // 2): float32 tensors holding the baseline's bf16 tables."""
    # built in float32 on the CPU, as the baseline's Rotary does, then rounded by its model's bf16 cast
    inv_freq = (1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)).bfloat16().float()
    # exact in float32 (a bf16 mantissa times a position below 2^16), so it does not matter where it is computed
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq).to(device)
    return angles.cos().bfloat16().float(), angles.sin().bfloat16().float()


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """RoPE on (B, H, T, D): pair i with i + D/2 and turn each pair by -angle, the baseline's direction."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


def rms_norm(x: Tensor) -> Tensor:
    return F.rms_norm(x, (x.size(-1),))


class Attention(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        kv_dim = cfg.num_kv_heads * cfg.head_dim
        self.c_q = nn.Linear(cfg.model_dim, cfg.model_dim, bias=False)
        self.c_k = nn.Linear(cfg.model_dim, kv_dim, bias=False)
        self.c_v = nn.Linear(cfg.model_dim, kv_dim, bias=False)
        self.proj = nn.Linear(cfg.model_dim, cfg.model_dim, bias=False)
        self.q_gain = nn.Parameter(torch.ones(cfg.num_heads))

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, T, C = x.shape
        q = self.c_q(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.c_k(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.c_v(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = rotate(rms_norm(q), cos, sin), rotate(rms_norm(k), cos, sin)
        q = q * self.q_gain.view(1, -1, 1, 1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv_head != self.n_head)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.model_dim, cfg.mlp_hidden, bias=False)
        self.proj = nn.Linear(cfg.mlp_hidden, cfg.model_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.attn_scale = nn.Parameter(torch.ones(cfg.model_dim))
        self.mlp_scale = nn.Parameter(torch.ones(cfg.model_dim))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(cfg.model_dim), torch.zeros(cfg.model_dim))))

    def forward(self, x: Tensor, x0: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = self.resid_mix[0] * x + self.resid_mix[1] * x0
        x = x + self.attn_scale * self.attn(rms_norm(x), cos, sin)
        return x + self.mlp_scale * self.mlp(rms_norm(x))


class BaselineGPT(nn.Module):
    """forward(ids (B, T)) -> logits (B, T, vocab); the state dict uses the baseline's tensor names."""

    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.cfg = cfg
        self.n_encoder = cfg.num_layers // 2
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.model_dim)
        self.skip_weights = nn.Parameter(torch.ones(min(self.n_encoder, cfg.num_layers - self.n_encoder),
                                                    cfg.model_dim))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.model_dim, cfg.vocab_size, bias=False)

    def forward(self, ids: Tensor) -> Tensor:
        cos, sin = rotary_tables(self.cfg.head_dim, ids.size(1), self.cfg.rope_base, ids.device)
        x = x0 = rms_norm(self.tok_emb(ids))
        skips = []
        for i, block in enumerate(self.blocks):
            decoder_i = i - self.n_encoder
            if decoder_i >= 0 and skips:
                x = x + self.skip_weights[decoder_i] * skips.pop()
            x = block(x, x0, cos, sin)
            if decoder_i < 0:
                skips.append(x)
        head = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight
        logits = F.linear(rms_norm(x), head)
        return self.cfg.logit_softcap * torch.tanh(logits / self.cfg.logit_softcap)


def expected_shapes(cfg: BaselineConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):  # shapes only: nothing is allocated
        return {k: tuple(v.shape) for k, v in BaselineGPT(cfg).state_dict().items()}


def infer_config(shapes: dict[str, tuple[int, ...]], where: str) -> BaselineConfig:
    """The config whose BaselineGPT has exactly these tensors; ArtifactError (one line) otherwise."""
    def shape(name: str, ndim: int) -> tuple[int, ...]:
        if name not in shapes:
            raise ArtifactError(f"{where}: cannot infer the baseline architecture: no tensor {name}")
        if len(shapes[name]) != ndim:
            raise ArtifactError(f"{where}: wrong shape: {name} is {shapes[name]}, expected {ndim} dims")
        return shapes[name]

    vocab, dim = shape("tok_emb.weight", 2)
    layers = {int(n.split(".")[1]) for n in shapes if n.startswith("blocks.") and n.split(".")[1].isdigit()}
    (heads,) = shape("blocks.0.attn.q_gain", 1)
    kv_dim = shape("blocks.0.attn.c_k.weight", 2)[0]
    if heads < 1 or dim < heads or dim % heads or kv_dim % (dim // heads):
        raise ArtifactError(f"{where}: inconsistent attention shapes (dim {dim}, {heads} heads, kv dim {kv_dim})")
    try:
        cfg = BaselineConfig(vocab_size=vocab, num_layers=len(layers), model_dim=dim, num_heads=heads,
                             num_kv_heads=kv_dim // (dim // heads), mlp_hidden=shape("blocks.0.mlp.fc.weight", 2)[0],
                             tie_embeddings="lm_head.weight" not in shapes).validate()
    except ConfigError as e:
        raise ArtifactError(f"{where}: inferred baseline config is invalid ({e})") from None
    expected = expected_shapes(cfg)
    for name in sorted(expected.keys() | shapes.keys()):
        if name not in shapes:
            raise ArtifactError(f"{where}: baseline tensor {name} is missing")
        if name not in expected:
            raise ArtifactError(f"{where}: baseline tensor {name[:60]} has no place in the baseline GPT")
        if tuple(shapes[name]) != expected[name]:
            raise ArtifactError(f"{where}: wrong shape: {name} is {tuple(shapes[name])}, expected {expected[name]}")
    return cfg
