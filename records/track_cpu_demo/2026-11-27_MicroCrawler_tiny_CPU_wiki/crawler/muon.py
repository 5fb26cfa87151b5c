"""Muon: momentum SGD whose update is orthogonalised by a Newton-Schulz iteration.

Under torchrun each rank orthogonalises every world_size-th matrix; the updates
are then summed across ranks (each slot is non-zero on exactly one rank), so all
ranks apply the same update.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

NS_COEFFS = (3.4445, -4.7750, 2.0315)


def zeropower_via_newtonschulz5(G: Tensor, steps: int = 5, eps: float = 1e-7) -> Tensor:
    """Approximately U V^T of G = U S V^T; the quintic is tuned for speed, so singular values land in ~[0.7, 1.2]."""
    if G.ndim != 2:
        raise ValueError(f"Newton-Schulz needs a matrix, got shape {tuple(G.shape)}")
    a, b, c = NS_COEFFS
    X = G.to(torch.bfloat16 if G.is_cuda else torch.float32)
    X = X / (X.norm() + eps)
    transposed = G.size(0) > G.size(1)
    if transposed:
        X = X.T  # iterate on the wide side so X @ X.T is the smaller Gram matrix
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.T if transposed else X


class Muon(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float, backend_steps: int = 5, nesterov: bool = True,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, backend_steps=backend_steps, nesterov=nesterov,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        distributed = dist.is_available() and dist.is_initialized()
        world_size = dist.get_world_size() if distributed else 1
        rank = dist.get_rank() if distributed else 0
        for group in self.param_groups:
            params = group["params"]
            if not params:
                continue
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            updates = torch.zeros(sum(p.numel() for p in params), device=params[0].device, dtype=torch.float32)
            offset = 0
            for i, p in enumerate(params):
                if i % world_size == rank and p.grad is not None:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p.grad)
                    buf = state["momentum_buffer"]
                    buf.mul_(momentum).add_(p.grad)
                    g = p.grad.add(buf, alpha=momentum) if group["nesterov"] else buf
                    g = zeropower_via_newtonschulz5(g, steps=group["backend_steps"])
                    g = g * max(1.0, g.size(0) / g.size(1)) ** 0.5  # tall matrices keep their per-entry scale
                    updates[offset:offset + p.numel()] = g.reshape(-1).float()
                offset += p.numel()
            if distributed:
                dist.all_reduce(updates)
            offset = 0
            for p in params:
                if wd:
                    p.mul_(1.0 - lr * wd)
                p.add_(updates[offset:offset + p.numel()].view_as(p).to(p.dtype), alpha=-lr)
                offset += p.numel()
