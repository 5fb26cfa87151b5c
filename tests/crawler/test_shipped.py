"""The shipped-code list (crawler/shipped.py) is what training imports, nothing missing, nothing extra, and every
function in it is what training runs."""
import ast
import json
import os
import shutil
import subprocess
import sys

from crawler.prep.shard_writing import write_shard
from crawler.shards import load_split
from crawler.shipped import ENTRY_SCRIPT, SHIPPED_MODULES, code_files
from tests.conftest import REPO

# what `torchrun train_gpt.py` and `python -m crawler.train_cli` load of ours, in a fresh interpreter
PROBE = """
import sys
import runpy
sys.argv = ["train_gpt.py", "--help"]
try:
    runpy.run_path("train_gpt.py", run_name="__main__")
except SystemExit:
    pass
import crawler.train  # what --help stops short of: the trainer itself, imported when training starts
print(" ".join(sorted(m for m in sys.modules if m.startswith("crawler."))))
"""


def test_shipped_modules_are_exactly_what_training_imports():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True)
    assert set(out.stdout.splitlines()[-1].split()) == set(SHIPPED_MODULES)


def test_the_top_of_the_crawler_package_is_the_shipped_code():
    # what ships is visible on disk: every module at the top of crawler/, and nothing under crawler/prep/
    on_disk = {f"crawler.{p.stem}" for p in (REPO / "crawler").glob("*.py") if p.name != "__init__.py"}
    assert on_disk == set(SHIPPED_MODULES)


def test_code_files_are_the_entry_script_then_the_modules():
    files = code_files()
    assert files[0] == (REPO / ENTRY_SCRIPT).resolve() and files[0].is_file()
    assert [f.relative_to(REPO).as_posix() for f in files[1:]] == \
        [m.replace(".", "/") + ".py" for m in SHIPPED_MODULES]


def test_python_m_train_cli_imports_the_trainer_once():
    # `python -m crawler.train` used to run train.py as __main__ and import it again as crawler.train
    probe = ("import runpy, sys; sys.argv = ['x', '--help']\n"
             "try: runpy.run_module('crawler.train_cli', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "import crawler.train\n"
             "print(sum(1 for m in sys.modules.values() if getattr(m, '__file__', '') and m.__file__.endswith('crawler/train.py')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "1"


# Every function of the shipped code runs when train_gpt.py trains (or refuses to), but these. Each is reached
# by the evaluator, the web app or `pgolf` through the shipped module, or only on inputs training never makes.
NOT_REACHED_BY_TRAINING = {
    ("crawler/train_cli.py", "register"): "pgolf.py registers `pgolf train`; train_gpt.py calls main()",
    ("crawler/config.py", "CrawlerConfig.replace"): "the evaluator's and the web app's variants of a loaded config",
    ("crawler/config.py", "environment_without_challenge_names"): "the ablation runner's child environment",
    ("crawler/ptz.py", "_from_canonical"): "reads the zstd codec; training exports with rans (DEFAULT_CODEC)",
    ("crawler/ptz.py", "_reject_constant"): "only for a manifest that holds NaN or Infinity",
}

# Collects the (file, first line) of every Python function called while train_gpt.py runs: two refused runs
# (a bad value, an output that is a file), then a tiny CPU training from a TOML file and flags.
TRACE = """
import json, os, runpy, sys, threading
called = set()
def collect(frame, event, arg):
    if event == "call":
        called.add((frame.f_code.co_filename, frame.f_code.co_firstlineno))
threading.setprofile(collect)
sys.setprofile(collect)
for args in json.loads(sys.argv[1]):
    sys.argv = ["train_gpt.py", *args]
    try:
        runpy.run_path("train_gpt.py", run_name="__main__")
    except SystemExit:
        pass
sys.setprofile(None)
print(json.dumps(sorted({(os.path.realpath(f), line) for f, line in called})))
"""

# Small enough to train in seconds on a CPU; a crawler MLP of over 65,536 weights, so that the artifact holds
# an int6 matrix; the late phases (QAT, EMA then SWA, the compile warm-up) all on.
TRACE_CONFIG = """
vocab_size = 400
model_dim = 48
num_heads = 2
num_kv_heads = 1
num_flat_layers = 2
crawler_mlp_mult = 32.0
train_seq_len = 32
eval_seq_len = 32
eval_stride = 16
bigram_vocab_size = 64
bigram_dim = 16
train_batch_tokens = 256
iterations = 8
warmup_steps = 2
warmdown_iters = 4
val_loss_every = 4
train_log_every = 1
val_batch_size = 1024
val_max_tokens = 256
qat_crawler_bits = 6
qat_threshold = 0.9
ema_decay = 0.9
swa_every = 1
swa_threshold = 0.6
"""


def defined_functions(path):
    """(qualified name, first line as the code object counts it: the first decorator's) of every def."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                line = min([child.lineno] + [d.lineno for d in child.decorator_list])
                found.append((prefix + child.name, line))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text()), "")
    return found


def test_training_runs_every_function_the_submission_ships(walk_data, tmp_path):
    data = tmp_path / "data"
    train = load_split(walk_data, "train")
    for i in range(4):  # short shards: the stream moves on to the next one within the run
        write_shard(data / f"fineweb_train_{i:06d}.bin", train[i * 700:(i + 1) * 700])
    write_shard(data / "fineweb_val_000000.bin", load_split(walk_data, "val"))
    shutil.copyfile(walk_data / "tokenizer.model", data / "tokenizer.model")
    (tmp_path / "tiny.toml").write_text(TRACE_CONFIG)
    (tmp_path / "a_file").write_text("")
    common = ["--preset", "tiny", "--data", str(data), "--no-progress", "--max-seconds", "0"]
    runs = [[*common, "--set", "seed=one", "--out", str(tmp_path / "runs")],
            [*common, "--out", str(tmp_path / "a_file")],
            [*common, "--config", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "runs")]]
    out = subprocess.run([sys.executable, "-c", TRACE, json.dumps(runs)], cwd=REPO, capture_output=True, text=True,
                         check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert (tmp_path / "runs" / "tiny" / "run.json").is_file(), out.stdout[-2000:] + out.stderr[-2000:]
    called = {(path, line) for path, line in json.loads(out.stdout.splitlines()[-1])}
    unreached = set()
    for path in code_files():
        rel = path.relative_to(REPO).as_posix()
        unreached |= {(rel, name) for name, line in defined_functions(path) if (str(path), line) not in called}
    assert unreached == set(NOT_REACHED_BY_TRAINING)
