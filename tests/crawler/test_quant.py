import pytest
import torch

from crawler.quant import (INT6_CLIP_PERCENTILES, QuantError, block_matrix_bits, dequantize_state_dict,
                           dequantize_tensor, fake_quantize, quantize_state_dict, quantize_tensor, scheme_for)


def heavy_tailed(rows, cols, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * 0.2
    w[torch.rand(rows, cols, generator=g) < 0.002] *= 12.0  # a few outliers make clipping worth it
    return w


def test_int6_grid_and_error_bound():
    w = heavy_tailed(256, 384)
    q, scale = quantize_tensor(w, 6)
    assert q.dtype == torch.int8 and scale.dtype == torch.float16 and scale.shape == (256,)
    assert q.abs().max() <= 31 and (scale.float() >= torch.tensor(1 / 31, dtype=torch.float16).float()).all()
    s = scale.float()[:, None]
    err = (dequantize_tensor(q, scale, w.shape) - w).abs()
    unclipped = w.abs() <= 31 * s
    assert unclipped.float().mean() > 0.99
    assert (err[unclipped] <= s.expand_as(w)[unclipped] / 2 * (1 + 1e-6)).all()


@pytest.mark.parametrize("case,winner", [("outliers", 2), ("gaussian", 1), ("wide", 2)])
def test_int6_clip_is_the_least_mse_percentile(case, winner):
    w = {"outliers": heavy_tailed(128, 256), "gaussian": torch.randn(128, 256, generator=torch.Generator().manual_seed(0)) * 2,
         "wide": heavy_tailed(64, 1000, seed=3)}[case]
    errs, scales = [], []
    for pct in INT6_CLIP_PERCENTILES:  # the reference: torch.quantile, one percentile at a time, as the record did
        clip = torch.quantile(w.abs(), pct, dim=1) if pct < 1 else w.abs().amax(dim=1)
        s = (clip / 31).clamp_min(1 / 31).half()
        q = torch.clamp(torch.round(w / s.float()[:, None]), -31, 31)
        errs.append(((q * s.float()[:, None] - w) ** 2).mean().item())
        scales.append(s)
    best = min(range(len(errs)), key=errs.__getitem__)
    assert best == winner  # the cases exercise different percentiles
    assert torch.equal(quantize_tensor(w, 6)[1], scales[best])


def test_int8_clip_and_error_bound():
    w = heavy_tailed(300, 200, seed=1) * 5
    q, scale = quantize_tensor(w, 8)
    clip = torch.quantile(w.abs(), 0.9999984, dim=1)
    s32 = (clip / 127).clamp_min(1 / 127)[:, None]
    assert torch.equal(scale, s32[:, 0].half())
    # rounded on the float32 grid (the record's order); the fp16 scale then moves each value by |q| * its rounding
    inside = w.abs() <= clip[:, None]
    err = (dequantize_tensor(q, scale, w.shape) - w).abs()
    bound = s32 / 2 * (1 + 1e-6) + q.abs() * (scale.float()[:, None] - s32).abs()
    assert (err[inside] <= bound[inside]).all()
    assert ((q.float() * s32 - w).abs()[inside] <= (s32 / 2 * (1 + 1e-6)).expand_as(w)[inside]).all()
    assert q.abs().max() <= 127


def test_scale_floor_and_zero_rows():
    q, scale = quantize_tensor(torch.zeros(4, 100), 6)
    assert (q == 0).all() and torch.equal(scale, torch.full((4,), 1 / 31).half())
    q, scale = quantize_tensor(torch.full((3, 10), 1e-4), 8)
    assert torch.equal(scale, torch.full((3,), 1 / 127).half())


def test_schemes():
    small, big = torch.zeros(256, 256), torch.zeros(257, 256)
    assert scheme_for("flat_blocks.0.attn.c_q.weight", small) == "fp16"  # exactly 65,536 elements
    assert scheme_for("flat_blocks.0.attn.c_q.weight", big) == "int6"
    assert scheme_for("crawler_blocks.0.mlp.fc.weight", big) == "int6"
    assert scheme_for("bigram.proj.weight", big) == "int6"  # the record's classifier: .proj. counts as attention
    assert scheme_for("tok_emb.weight", big) == "int8"
    assert scheme_for("bigram.embed.weight", big) == "int8"
    assert scheme_for("some.vector", torch.zeros(70_000)) == "int8"
    bits = block_matrix_bits(qat_flat_bits=6, qat_crawler_bits=8)
    assert scheme_for("crawler_blocks.0.mlp.fc.weight", big, bits) == "int8"
    assert scheme_for("flat_blocks.1.mlp.fc.weight", big, bits) == "int6"


def test_fp16_passthrough_and_state_dict_round_trip():
    sd = {"tok_emb.weight": torch.randn(300, 256), "flat_blocks.0.mlp.fc.weight": torch.randn(512, 256) * 0.1,
          "smear.gate": torch.randn(256), "bigram.scale": torch.tensor(0.05), "flat_blocks.0.attn.c_q.weight": torch.randn(256, 256)}
    qsd = quantize_state_dict(sd)
    assert {k: v.scheme for k, v in qsd.items()} == {"tok_emb.weight": "int8", "flat_blocks.0.mlp.fc.weight": "int6",
                                                     "smear.gate": "fp16", "bigram.scale": "fp16",
                                                     "flat_blocks.0.attn.c_q.weight": "fp16"}
    deq = dequantize_state_dict(qsd)
    for name, t in sd.items():
        assert deq[name].shape == t.shape and deq[name].dtype == torch.float32
    assert torch.equal(deq["smear.gate"], sd["smear.gate"].half().float())
    assert torch.equal(deq["bigram.scale"], sd["bigram.scale"].half().float())


def test_quantize_state_dict_refuses_bad_tensors():
    with pytest.raises(QuantError, match="dtype"):
        quantize_state_dict({"x": torch.zeros(3, dtype=torch.int64)})
    with pytest.raises(QuantError, match="non-finite"):
        quantize_state_dict({"x": torch.tensor([1.0, float("nan")])})
    with pytest.raises(QuantError, match="float16"):
        quantize_state_dict({"x": torch.tensor([1e6])})
    with pytest.raises(QuantError, match="bit width"):
        quantize_tensor(torch.zeros(2, 2), 4)


@pytest.mark.parametrize("bits", [6, 8])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fake_quantize_matches_export_grid(bits, dtype):
    w = heavy_tailed(256, 300, seed=bits).to(dtype)  # > 65,536 elements: quantised on export
    y = fake_quantize(w, bits)
    q, scale = quantize_tensor(w, bits)
    assert y.dtype == dtype
    assert torch.equal(y, dequantize_tensor(q, scale, w.shape).to(dtype))
    name = "flat_blocks.0.mlp.fc.weight" if bits == 6 else "tok_emb.weight"
    exported = dequantize_state_dict(quantize_state_dict({name: w.detach()}))
    assert torch.equal(y.float(), exported[name].to(dtype).float())
