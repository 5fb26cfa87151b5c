import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.prep.prepare import prepare_data
from crawler.prep.shard_writing import write_shard
from crawler.prep.tokenizer_training import train_tokenizer
from crawler.ptz import export_model

# Starlette's test client sends `Host: testserver`, which the web app's host allow-list (webapp.security)
# refuses by default; the tests of that list set allowed_hosts themselves
os.environ.setdefault("PGOLF_ALLOWED_HOSTS", '["testserver", "localhost", "127.0.0.1", "::1"]')

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CRAWLER_RECORD = "2026-03-30_Crawler_Leg3_8xH100"
DEMO_RECORD = "2026-11-27_MicroCrawler_tiny_CPU_wiki"  # this repository's CPU demo record
DEMO_RECORD_DIR = REPO / "records" / "track_cpu_demo" / DEMO_RECORD

# Real prose for tokenizer fixtures: a FineWeb web document when ../shared exists, else our own README.
SAMPLE_TEXT = """The crawler reads a stream of tokens. Each document begins with a BOS token, and the model
learns to predict the next token. Numbers like 1234 and 2026-11-24 are split into digits.
Accented words such as café, naïve and Zürich, and symbols like ✓ or 日本 fall back to bytes."""


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        # CI has ../shared beside its clone: a test that skips there would hide a conformance failure
        if os.environ.get("CI"):
            pytest.fail(f"{path} not present, and CI is set: the tests that need ../shared must run in CI")
        pytest.skip(f"{path} not present (../shared is test data beside the checkout)")
    return path


@contextlib.contextmanager
def reference_module(filename: str, name: str, env: dict[str, str]):
    """A script of ../shared/reference imported unchanged under a module name of ours, with the environment
    variables it reads at import and construction time set while the caller uses it."""
    path = shared_path("reference", filename)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # torch.compile and pickling look the module up by name
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# Enough prose that fixtures built from it have a few thousand validation tokens with or without ../shared.
PARAGRAPHS = [
    """Parameter Golf asks for the best language model that fits in sixteen million bytes, counting both the
code that trains it and the compressed weights it produces. Training must finish in ten minutes on eight
accelerators, and the score is the number of bits the model needs, on average, to encode each byte of a
held-out slice of web text. Lower is better, and small differences matter: a gain of five thousandths of a
bit per byte is enough to set a record, so every part of the pipeline has to be measured with care.""",
    """The Micro Crawler keeps a few ordinary transformer blocks at the bottom and the top of the network and
puts a single shared block in the middle, which it applies three times in a row. Sharing the block saves
parameters, which leaves room in the byte budget for a wider feed-forward layer, while the repeated
application still gives the model depth. Whether the three passes learn to do different jobs is a question
that can only be answered by looking inside the trained model, loop by loop, rather than by reading its code.""",
    """Weights are stored as six-bit integers with one scale per row, then compressed. The choice of clipping
threshold for each matrix trades rounding error against the error of clipped outliers, and the best choice
differs from matrix to matrix. After quantisation the symbols are far from uniform: most of them sit near
zero, so an entropy coder that knows their frequencies can store them in fewer bits than a general purpose
compressor, and every byte saved is a byte that can be spent on parameters instead.""",
    """Evaluation slides a window of two thousand and forty-eight tokens over the validation text and scores
only the last sixty-four positions of each window, so that every scored token sees a long context. Each
token must be scored exactly once, and the number of bytes it stands for has to be counted from the
tokenizer's pieces, including the spaces that pieces carry at their front. A wrong byte count changes the
score of every submission, which is why the count is checked against the decoded text.""",
    """Reviewers read the training logs that come with each submission: the loss every few hundred steps, the
time the training loop took, the size of the code and of the compressed model, and the final scores after
the weights have been reloaded from the compressed file. The logs of different submissions use different
labels for the same quantity, so a checker has to decide what each number measures from its context, and
it has to say which reading of each rule it applied when it reports a pass, a warning or a failure.""",
    """Seeds matter because two runs of the same recipe never end at exactly the same score. A claim of
improvement needs several seeds on each side and a test that accounts for the spread between them; with
three seeds per side, a one-sided Welch test can show whether the new recipe is better at all, and whether
it is better by a margin that is large enough to count, given the noise that any single run carries.""",
]


def sample_docs() -> list[str]:
    docs = [SAMPLE_TEXT] * 3 + [" ".join(p.split()) for p in PARAGRAPHS]
    web = SHARED / "data" / "fineweb_sample" / "fineweb_sample_1doc.txt"
    if web.exists():
        docs += [p for p in web.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    return docs


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and on a shared, oversubscribed CPU thread barriers make them crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


WALK_VOCAB = 400


@pytest.fixture(scope="session")
def walk_data(tmp_path_factory):
    """Shards of a noisy random walk over a permutation (learnable in a few steps), and a real tokenizer."""
    path = tmp_path_factory.mktemp("data")
    (path / "tokenizer.model").write_bytes(train_tokenizer(sample_docs(), vocab_size=WALK_VOCAB))
    rng = np.random.default_rng(0)
    perm = rng.permutation(WALK_VOCAB)
    tokens = np.empty(60_000, dtype=np.int64)
    tokens[0] = 0
    noise = rng.random(len(tokens)) < 0.1
    random = rng.integers(0, WALK_VOCAB, len(tokens))
    for i in range(1, len(tokens)):
        tokens[i] = random[i] if noise[i] else perm[tokens[i - 1]]
    write_shard(path / "fineweb_train_000000.bin", tokens[:30_000])
    write_shard(path / "fineweb_train_000001.bin", tokens[30_000:56_000])
    write_shard(path / "fineweb_val_000000.bin", tokens[56_000:])
    return path


MICRO_ABLATION = """
description = "micro crawler on a random walk"
preset = "tiny"
seeds = [1, 2]
wallclock_seconds = 600  # the 12 iterations end every run first
control = "loops2"
eval_max_tokens = 0

[base]
data_path = "{data}"
vocab_size = 400
model_dim = 64
num_heads = 4
num_kv_heads = 2
train_seq_len = 32
eval_seq_len = 32
eval_stride = 16
bigram_vocab_size = 64
bigram_dim = 32
train_batch_tokens = 512
iterations = 12
warmdown_iters = 4
val_loss_every = 0
train_log_every = 4
val_batch_size = 512  # the trainer's final scoring batches 512 / 32 = 16 windows, as `pgolf eval` does: the same bits
muon_momentum_warmup_steps = 4
matrix_lr = 0.05

[arms.loops2]
crawler_loops = 2

[arms.loops1]
CRAWLER_LOOPS = 1

[arms.broken]  # valid settings, but no data there: training fails
DATA_PATH = "{missing}"
"""


@pytest.fixture(scope="session")
def micro_ablation(walk_data, tmp_path_factory):
    """A real ablation run by the runner (2 arms x 2 seeds of a micro crawler, and an arm whose training
    crashes), as (plan, results of the first invocation)."""
    from evaluator.ablation.plan import load_plan
    from evaluator.ablation.runner import run_plan

    folder = tmp_path_factory.mktemp("ablations")
    path = folder / "micro.toml"
    path.write_text(MICRO_ABLATION.format(data=walk_data, missing=folder / "no_data"))
    plan = load_plan(path)
    return plan, run_plan(plan)


TINY_VOCAB = 400  # the tiny artifact's tokenizer
TINY_CODE = b"# the code that ships with the tiny artifact\nprint('crawler')\n"


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory) -> Path:
    """Train/val shards and a 400-piece tokenizer, in the layout prepare-data writes."""
    docs = sample_docs()
    out = tmp_path_factory.mktemp("webapp-eval") / "data"
    # 20 validation documents: a few thousand tokens, enough for the 2,048-token evaluations the worker tests run
    prepare_data([f"Document {i}. " + docs[i % len(docs)] for i in range(60)], out, "test", vocab_size=TINY_VOCAB,
                 val_docs=20)
    return out


@pytest.fixture(scope="session")
def tiny_artifact(eval_data, tmp_path_factory) -> Path:
    """An untrained Micro Crawler small enough to evaluate in seconds, exported in our .ptz format."""
    cfg = load_config("tiny", environ={}, data_path=str(eval_data), vocab_size=TINY_VOCAB, model_dim=64, num_heads=4,
                      num_kv_heads=2, train_seq_len=32, eval_seq_len=32, eval_stride=16, bigram_vocab_size=64,
                      bigram_dim=32, train_batch_tokens=256)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("webapp-artifact")
    (out / "train_gpt.py").write_bytes(TINY_CODE)
    export_model(CrawlerGPT(cfg), cfg, eval_data / "tokenizer.model", [out / "train_gpt.py"], out / "tiny.ptz")
    return out / "tiny.ptz"
