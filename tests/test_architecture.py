"""The import graph of c2al_tf/, components/ and pipeline/ (docs/architecture.md): no cycle,
and no import from a lower layer into a higher one. Read with the standard library's ast,
imports inside functions included."""
import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOTS = ("c2al_tf", "components", "pipeline")


def _modules():
    mods = {}
    for root in ROOTS:
        for d, _, files in os.walk(os.path.join(REPO, root)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(d, f), REPO)[:-3].replace(os.sep, ".")
                    mods[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(d, f)
    return mods


def import_graph():
    """module -> the modules of the three packages it imports. ``from pkg import sub``
    counts as an import of ``pkg.sub`` only (Python initializes ``pkg`` either way)."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for m, path in mods.items():
        package = m if path.endswith("__init__.py") else m.rsplit(".", 1)[0]
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                names = subs if len(subs) == len(node.names) else [base] + subs
            else:
                continue
            for name in names:
                while name and name not in mods:
                    name = name.rsplit(".", 1)[0] if "." in name else ""
                if name and name != m:
                    graph[m].add(name)
    return graph


def _cycles(graph):
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    assert _cycles(import_graph()) == []


def test_no_import_from_a_lower_layer_into_a_higher_one():
    """Layers, lowest first: the library (c2al_tf, without its command line), the TFX
    component (components), the pipeline (pipeline), the command line (c2al_tf.cli,
    c2al_tf.commands), which may import everything."""
    def layer(module):
        if module == "c2al_tf.cli" or module.startswith("c2al_tf.commands"):
            return 3
        return {"c2al_tf": 0, "components": 1, "pipeline": 2}[module.split(".")[0]]

    upward = sorted(f"{m} -> {n}" for m, deps in import_graph().items() for n in deps if layer(n) > layer(m))
    assert upward == []


def _calls(path):
    with open(os.path.join(REPO, path)) as f:
        tree = ast.parse(f.read())
    return {node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))}


def test_one_mining_entry_serves_the_command_line_and_the_component():
    """``c2al_tf.cohorts.miner.mine`` is the only caller of the scoring modes; the
    in-memory path (``mine_table``: ``c2al mine``, ``c2al experiment``) and the
    CohortMiner's executor both go through it."""
    scorers = {"mine_pairwise", "mine_predictions", "mine_residuals", "mine_from_statistics"}
    callers = sorted(m for m, path in _modules().items()
                     if m != "c2al_tf.cohorts.miner" and _calls(os.path.relpath(path, REPO)) & scorers)
    assert callers == []
    assert "mine" in _calls("components/cohort_miner/executor.py")
    with open(os.path.join(REPO, "c2al_tf", "cohorts", "miner.py")) as f:
        tree = ast.parse(f.read())
    mine_table = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "mine_table")
    assert "mine" in {n.func.id for n in ast.walk(mine_table) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def test_bench_imports_no_private_name():
    """The benchmarks use the library as a user would: no ``_name`` and no module
    ``c2al_tf.*._name`` (what they need is public, e.g. ``c2al_tf.models.make_dataset``)."""
    private = []
    for name in sorted(os.listdir(os.path.join(REPO, "bench"))):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(REPO, "bench", name)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("c2al_tf"):
                names = [a.name for a in node.names] + node.module.split(".")
                private += [f"bench/{name}: {node.module}.{n}" for n in names if n.startswith("_")]
    assert private == []
