"""Imports flow one way, webapp -> evaluator -> crawler, and no module imports itself through others
(ARCHITECTURE.md). Every import counts, a function's lazy one included."""
import ast

from tests.conftest import REPO

PACKAGES = ("crawler", "evaluator", "webapp")  # each may import only those before it


def project_imports() -> dict[str, set[str]]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path

    def owner(dotted: str) -> str | None:  # the module a dotted name lives in: `a.b.f` -> `a.b`
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(owner(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.update(owner(f"{node.module}.{a.name}") for a in node.names)
        graph[name] = deps - {None, name}
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


def test_imports_flow_one_way():
    graph = project_imports()
    assert len(graph) > 60  # the walk found the packages
    assert against_flow(graph) == []


def test_no_import_cycles():
    assert cycles(project_imports()) == []


def test_the_checks_would_fail():
    # the same functions on graphs that break the rules
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    graph = project_imports()
    graph["crawler.model"] = graph["crawler.model"] | {"webapp.app"}
    assert against_flow(graph) == [("crawler.model", "webapp.app")]
