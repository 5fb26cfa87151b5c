"""Imports flow one way, webapp -> evaluator -> crawler, and inside evaluator from its top modules down to records;
no module imports itself through others (ARCHITECTURE.md). Every import counts, a function's lazy one included, and
so does the package __init__ each import runs first: `import a.b.c` executes a/__init__ and a/b/__init__."""
import ast

from tests.conftest import REPO

PACKAGES = ("crawler", "evaluator", "webapp")  # each may import only those before it

# evaluator's parts, lowest first: a sub-package or a module at its top. Each part may import those of lower layers
# (and crawler), never one of its own layer or above.
EVALUATOR_LAYERS = (
    {"cli_inputs", "units", "typed_json", "csv_table"},  # helpers any part may use
    {"records"},  # reads folders: logs, submissions, our runs' run.json
    {"artifacts"},  # opens and scores artifacts; uses records.metric_kinds
    {"loopwise", "check", "ablation"},  # loop-wise analysis, compliance, ablations: over records and artifacts
    {"serving"},  # what the web app asks for: records, arms, uploads, evaluation jobs
    {"demo", "record_cli", "service"},  # commands that run the whole chain; the web app's one door (service)
)


def project_modules() -> dict[str, object]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def project_imports() -> dict[str, set[str]]:
    modules = project_modules()

    def owner(dotted: str) -> str | None:  # the module a dotted name lives in: `a.b.f` -> `a.b`
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def with_packages(module: str | None) -> set[str]:  # `a.b.c` -> {a, a.b, a.b.c}: the __init__s run first
        parts = module.split(".") if module else []
        return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules.keys()

    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(*(with_packages(owner(a.name)) for a in node.names))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.update(*(with_packages(owner(f"{node.module}.{a.name}")) for a in node.names))
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, found, counter = {}, {}, [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while component[-1:] != [v]:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def against_flow(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    rank = {p: i for i, p in enumerate(PACKAGES)}
    return sorted((m, d) for m, deps in graph.items() for d in deps if rank[d.split(".")[0]] > rank[m.split(".")[0]])


def evaluator_part(module: str) -> str | None:
    """`evaluator.records.logs` -> records, `evaluator.demo` -> demo; None outside evaluator and for its __init__."""
    parts = module.split(".")
    return parts[1] if parts[0] == "evaluator" and len(parts) > 1 else None


def against_layers(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    layer = {part: i for i, parts in enumerate(EVALUATOR_LAYERS) for part in parts}
    wrong = []
    for module, deps in graph.items():
        mine = evaluator_part(module)
        for dep in deps:
            theirs = evaluator_part(dep)
            if mine and theirs and theirs != mine and layer[theirs] >= layer[mine]:
                wrong.append((module, dep))
    return sorted(wrong)


def test_imports_flow_one_way():
    graph = project_imports()
    assert len(graph) > 60  # the walk found the packages
    assert against_flow(graph) == []


def test_no_import_cycles():
    assert cycles(project_imports()) == []


def test_evaluator_parts_are_layered():
    graph = project_imports()
    parts = {part for module in graph if (part := evaluator_part(module))}
    layered = set().union(*EVALUATOR_LAYERS)
    assert parts == layered, f"evaluator parts not in EVALUATOR_LAYERS: {sorted(parts - layered)}; " \
                             f"gone: {sorted(layered - parts)}"
    assert against_layers(graph) == []


def test_the_checks_would_fail():
    # the same functions on graphs that break the rules
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    graph = project_imports()
    graph["crawler.model"] = graph["crawler.model"] | {"webapp.app"}
    assert against_flow(graph) == [("crawler.model", "webapp.app")]
    graph = project_imports()
    graph["evaluator.records.logs"] = graph["evaluator.records.logs"] | {"evaluator.check.findings"}
    graph["evaluator.check.triage"] = graph["evaluator.check.triage"] | {"evaluator.ablation.plan"}
    assert against_layers(graph) == [("evaluator.check.triage", "evaluator.ablation.plan"),
                                     ("evaluator.records.logs", "evaluator.check.findings")]


def test_an_import_runs_its_package_inits():
    # a package __init__ that re-exports its own modules is a cycle with every one of them that imports a sibling
    graph = project_imports()
    assert {"evaluator", "evaluator.records"} <= graph["evaluator.records.record"]
    graph["evaluator.records"] = graph["evaluator.records"] | {"evaluator.records.submission"}
    assert any({"evaluator.records", "evaluator.records.submission"} <= set(cycle) for cycle in cycles(graph))
