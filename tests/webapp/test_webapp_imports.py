"""The web app asks the evaluator through one door: webapp/ imports nothing from crawler/ or evaluator/ but the
contract (crawler.contract) and the service (evaluator.service). Every import counts, a function's lazy one and a
test-only one included."""
import ast

from tests.conftest import REPO

ALLOWED = {"crawler.contract", "evaluator.service"}


def _project_imports(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module]
    return [name for name in names if name.split(".")[0] in ("crawler", "evaluator")]


def beyond_the_door(source: str) -> list[str]:
    return [name for name in _project_imports(source) if name not in ALLOWED]


def test_the_web_app_imports_only_the_contract_and_the_service():
    files = sorted((REPO / "webapp").rglob("*.py"))
    assert len(files) > 30
    found = {str(path.relative_to(REPO)): wrong for path in files
             if (wrong := beyond_the_door(path.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_rule_would_fail():
    source = "from evaluator.records.logs import parse_log\nimport crawler.ptz\ndef f():\n    from crawler.errors import x\n"
    assert beyond_the_door(source) == ["evaluator.records.logs", "crawler.ptz", "crawler.errors"]
    assert beyond_the_door("from evaluator.service import RecordCatalog\nfrom crawler.contract import RUN_LOG\n") == []
