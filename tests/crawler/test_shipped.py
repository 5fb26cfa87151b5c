"""The shipped-code list (crawler/shipped.py) is what training imports: nothing missing, nothing extra."""
import subprocess
import sys

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
