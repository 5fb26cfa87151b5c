import ast
import os
import sys
import tempfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.config import CrawlerConfig
from crawler.model import CrawlerGPT
from crawler.ptz import ArtifactError, export_model, load_artifact
from evaluator.artifacts.baseline_gpt import BaselineConfig, BaselineGPT
from evaluator.artifacts.loading import open_artifact

CORPUS = Path(__file__).parent / "fuzz_corpus"
sys.path.insert(0, str(CORPUS))
import make_corpus as mc  # the foreign-format writers live beside the corpus they generate

REPO = Path(__file__).resolve().parents[2]


def write_bytes(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.fixture(scope="module")
def record_file(tmp_path_factory):
    config = mc.tiny_config()
    state = {**mc.crawler_state(config, seed=1), **mc.record_extras(config, seed=1)}
    obj = mc.record_obj(state)
    path = write_bytes(tmp_path_factory.mktemp("record"), "final_model.int6.ptz", mc.zstd22(mc.torch_bytes(obj)))
    return path, config, obj


def record_dequantised(obj, name):
    m = obj["m"][name]
    if m == "passthrough":
        return obj["w"][name].float()
    q, s = obj["w"][name + ".q"], obj["w"][name + ".scale"]
    return q.float() * s.float()[:, None]


def test_record_format_loads_with_inferred_config(record_file):
    path, _, obj = record_file
    art = open_artifact(path)
    assert art.format == "record-int6" and art.code_bytes is None
    c = art.config
    assert (c.vocab_size, c.model_dim, c.num_heads, c.num_kv_heads) == (1100, 64, 2, 1)
    assert (c.num_flat_layers, c.num_crawler_layers, c.crawler_loops) == (2, 1, 3)
    assert (c.mlp_mult, c.crawler_mlp_mult, c.bigram_vocab_size, c.bigram_dim) == (2.0, 1030 / 64, 64, 16)
    assert any("crawler_loops=3, counted from" in a for a in art.assumptions)
    assert any("dropped 4 tensors" in a and "flow loop instructions" in a for a in art.assumptions)
    assert any("dropped 5 tensors" in a and "value embeddings" in a for a in art.assumptions)
    assert set(art.unmapped) == {"loop_inst_proj.weight", "loop_inst_up.0.weight", "loop_inst_up.1.weight",
                                 "loop_inst_up.2.weight", "ve_shared.embed.weight", "ve_shared.proj.weight",
                                 "ve_shared.scale", "ve_layer_scales.0", "ve_layer_scales.1"}
    for name in ("tok_emb.weight", "crawler_blocks.0.mlp.fc.weight", "flat_blocks.1.attn.c_q.weight", "smear.gate"):
        assert torch.equal(art.state_dict[name], record_dequantised(obj, name)), name
    model = CrawlerGPT(c)
    model.load_state_dict(art.state_dict)  # strict: the mapping covers every CrawlerGPT tensor
    assert model(torch.randint(0, 1100, (1, 8))).shape == (1, 8, 1100)
    with pytest.raises(ArtifactError, match="contradicts"):
        open_artifact(path, loops=4)


def test_record_sized_file_maps_to_leg3(tmp_path):
    leg3 = CrawlerConfig()
    state = {**mc.crawler_state(leg3, seed=None), **mc.record_extras(leg3, seed=None)}
    assert sum(t.numel() for t in state.values()) == 14_462_508  # the record's logged model_params
    art = open_artifact(write_bytes(tmp_path, "leg3.ptz", mc.zstd22(mc.torch_bytes(mc.record_obj(state)))))
    arch = ("vocab_size", "model_dim", "num_heads", "num_kv_heads", "num_flat_layers", "num_crawler_layers",
            "crawler_loops", "mlp_mult", "crawler_mlp_mult", "bigram_vocab_size", "bigram_dim")
    assert {k: getattr(art.config, k) for k in arch} == {k: getattr(leg3, k) for k in arch}
    assert sum(t.numel() for t in art.state_dict.values()) == 14_233_129


def test_record_without_instructions_assumes_three_loops(tmp_path):
    config = mc.tiny_config()
    obj = mc.record_obj(mc.crawler_state(config, seed=2))
    path = write_bytes(tmp_path, "r.ptz", mc.zstd22(mc.torch_bytes(obj)))
    art = open_artifact(path)
    assert art.config.crawler_loops == 3 and not art.unmapped
    assert any("crawler_loops=3 assumed (the record's default" in a for a in art.assumptions)
    art = open_artifact(path, loops=5)
    assert art.config.crawler_loops == 5 and any("crawler_loops=5 assumed (from --loops)" in a for a in art.assumptions)
    # the record fell back to zlib when zstandard was missing; same content, same answer
    art = open_artifact(write_bytes(tmp_path, "z.ptz", zlib.compress(mc.torch_bytes(obj), 9)))
    assert art.format == "record-int6"


def test_record_unknown_tensor_is_refused(tmp_path):
    config = mc.tiny_config()
    obj = mc.record_obj({**mc.crawler_state(config, seed=3), "lm_head.weight": torch.zeros(1100, 64)})
    with pytest.raises(ArtifactError, match="lm_head.weight has no counterpart"):
        open_artifact(write_bytes(tmp_path, "r.ptz", mc.zstd22(mc.torch_bytes(obj))))


def test_baseline_format_loads_with_inferred_config(tmp_path):
    state = mc.baseline_state(layers=3)
    state["tok_emb.weight"] = state["tok_emb.weight"].bfloat16()  # as the baseline trains it
    obj = mc.baseline_obj(state)
    obj["dtypes"]["tok_emb.weight"] = "bfloat16"
    path = write_bytes(tmp_path, "final_model.int8.ptz", zlib.compress(mc.torch_bytes(obj), 9))
    art = open_artifact(path, loops=3)
    assert art.format == "baseline-int8" and isinstance(art.config, BaselineConfig)
    c = art.config
    assert (c.num_layers, c.model_dim, c.vocab_size, c.num_heads, c.num_kv_heads, c.mlp_hidden) == \
        (3, 64, 1100, 2, 1, 128)
    assert c.tie_embeddings and (c.train_seq_len, c.eval_seq_len, c.eval_stride) == (1024, 1024, 64)
    assert art.manifest["inferred"]["params"] == sum(t.numel() for t in state.values())
    assert any("taken from the baseline's defaults" in a for a in art.assumptions)
    assert any("--loops ignored" in a for a in art.assumptions)
    # the baseline's reader casts back to the model's dtype: the dequantised embedding is rounded to bf16
    q, s = obj["quantized"]["tok_emb.weight"], obj["scales"]["tok_emb.weight"]
    exact = q.float() * s.float()[:, None]
    assert torch.equal(art.state_dict["tok_emb.weight"], exact.bfloat16().float())
    assert not torch.equal(exact.bfloat16().float(), exact)
    assert torch.equal(art.state_dict["blocks.1.resid_mix"], obj["passthrough"]["blocks.1.resid_mix"].float())
    model = art.build_model("cpu")
    assert isinstance(model, BaselineGPT) and model(torch.randint(0, 1100, (1, 8))).shape == (1, 8, 1100)
    with pytest.raises(ArtifactError, match="needs a Micro Crawler artifact"):
        art.require_crawler()


@pytest.mark.parametrize("change, message", [
    ({"extra.vector": torch.randn(70_000)}, "extra.vector has no place in the baseline GPT"),
    ({"blocks.2.mlp_scale": None}, "blocks.2.mlp_scale is missing"),
    ({"blocks.1.attn.c_k.weight": torch.randn(64, 64)}, r"wrong shape: blocks.1.attn.c_k.weight is \(64, 64\)"),
    ({"blocks.0.attn.q_gain": torch.ones(3)}, "inconsistent attention shapes"),
])
def test_baseline_tensors_the_model_cannot_take_are_refused(tmp_path, change, message):
    state = {k: v for k, v in {**mc.baseline_state(layers=3), **change}.items() if v is not None}
    blob = zlib.compress(mc.torch_bytes(mc.baseline_obj(state)), 9)
    with pytest.raises(ArtifactError, match=message) as e:
        open_artifact(write_bytes(tmp_path, "b.ptz", blob))
    assert "\n" not in str(e.value)


def test_baseline_unknown_dtype_is_refused(tmp_path):
    obj = mc.baseline_obj(mc.baseline_state(layers=3))
    obj["dtypes"]["tok_emb.weight"] = "int4"
    with pytest.raises(ArtifactError, match="tok_emb.weight the unsupported dtype 'int4'"):
        open_artifact(write_bytes(tmp_path, "b.ptz", zlib.compress(mc.torch_bytes(obj), 9)))


def test_our_format_through_open_artifact(tmp_path):
    config = mc.tiny_config()
    tok = write_bytes(tmp_path, "tok.model", b"t")
    code = write_bytes(tmp_path, "code.py", b"x = 1\n")
    out = tmp_path / "ours.ptz"
    export_model(mc.crawler_state(config), config, tok, [code], out)
    art = open_artifact(out)
    cfg, sd, _ = load_artifact(out)
    assert art.format == "pgolf-ptz" and art.config == cfg and art.code_bytes == 6 and not art.assumptions
    assert all(torch.equal(art.state_dict[k], sd[k]) for k in sd)
    art = open_artifact(out, loops=4)
    assert art.config.crawler_loops == 4 and "trained with 3" in art.assumptions[0]
    loop_specific = tmp_path / "inst.ptz"
    config = mc.tiny_config(loop_inst_dim=4)
    export_model(mc.crawler_state(config), config, tok, [code], loop_specific)
    with pytest.raises(ArtifactError, match="loop_inst"):
        open_artifact(loop_specific, loops=4)  # one instruction vector per trained loop: no fourth one


def test_bombs_are_refused(tmp_path):
    with pytest.raises(ArtifactError, match="refused"):
        open_artifact(write_bytes(tmp_path, "z.ptz", mc.zstd_bomb(96)), max_decompressed_bytes=32 << 20)
    with pytest.raises(ArtifactError, match="refused"):
        open_artifact(write_bytes(tmp_path, "l.ptz", zlib.compress(bytes(8 << 20), 9)), max_decompressed_bytes=1 << 20)
    with pytest.raises(ArtifactError, match="larger than"):
        open_artifact(write_bytes(tmp_path, "big.ptz", bytes(2048)), max_decompressed_bytes=1024)


def test_pickle_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for blob in (mc.zstd22(mc.torch_bytes({"w": {}, "m": {"x": Exploit()}})),
                 zlib.compress(mc.torch_bytes({"__quant_format__": Exploit()}), 9)):
        with pytest.raises(ArtifactError, match="weights_only"):
            open_artifact(write_bytes(tmp_path, "evil.ptz", blob))
    assert not marker.exists()


def test_corpus_files_are_each_refused():
    files = sorted(CORPUS.glob("*.ptz"))
    assert len(files) >= 20
    for path in files:
        with pytest.raises(ArtifactError) as e:
            open_artifact(path, max_decompressed_bytes=4 << 20)
        message = str(e.value)
        assert message.startswith(str(path)) and "\n" not in message, message


# ----------------------------------------------------------------------------- fuzzing

@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    d = tmp_path_factory.mktemp("seeds")
    config = mc.tiny_config(crawler_mlp_mult=2.0)  # only tok_emb is quantised: quick to decode
    tok = write_bytes(d, "tok.model", b"t")
    out = {}
    for codec in ("rans", "zstd"):
        export_model(mc.crawler_state(config, seed=4), config, tok, [], d / codec, codec=codec)
        out[codec] = (d / codec).read_bytes()
    record = {**mc.crawler_state(config, seed=None), **mc.record_extras(config, seed=None)}
    out["record"] = mc.zstd22(mc.torch_bytes(mc.record_obj(record)))
    out["baseline"] = zlib.compress(mc.torch_bytes(mc.baseline_obj(mc.baseline_state(seed=None))), 9)
    return out


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("splice"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
)


def mutate(blob: bytes, m) -> bytes:
    b = bytearray(blob)
    def at(f):
        return min(int(f * len(b)), len(b) - 1)

    if m[0] == "truncate":
        return bytes(b[:int(m[1] * len(b))])
    if m[0] == "flip":
        for f, x in m[1]:
            b[at(f)] ^= x
    elif m[0] == "splice":
        b[at(m[1]):at(m[1])] = m[2]
    else:
        del b[at(m[1]):at(m[1]) + m[2]]
    return bytes(b)


@settings(max_examples=120, deadline=timedelta(seconds=20), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["rans", "zstd", "record", "baseline"]), m=mutation)
def test_fuzz_reader_raises_only_artifact_error(seeds, which, m):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.ptz"
        path.write_bytes(mutate(seeds[which], m))
        try:
            open_artifact(path, max_decompressed_bytes=8 << 20)
        except ArtifactError as e:
            assert "\n" not in str(e) and str(e).startswith(str(path))
        # anything else propagates and fails the test; a clean load is fine (e.g. a flip in zip padding)


# ----------------------------------------------------------------------------- no unsafe deserialisation

def test_no_pickle_and_no_unsafe_torch_load():
    offenders = []
    for path in [REPO / "pgolf.py", *(p for d in ("crawler", "evaluator", "benchmarks", "tests", "webapp")
                                      for p in (REPO / d).rglob("*.py"))]:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n and n.split(".")[0] in ("pickle", "cPickle", "dill", "joblib", "cloudpickle") for n in names):
                    offenders.append(f"{path}:{node.lineno} imports a pickle module")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                if not safe:
                    offenders.append(f"{path}:{node.lineno} calls torch.load without weights_only=True")
    assert not offenders, offenders
