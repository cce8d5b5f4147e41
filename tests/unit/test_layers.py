"""Layers point down: no import cycle between trueloop's subpackages, no library stage imports an
orchestrator, only code verification and the python tool reach the sandbox, and every import
left inside a function says why it is lazy.

The graph is read from the source (lazy imports included, `if TYPE_CHECKING:` blocks excluded),
one node per subpackage or top-level module (`trueloop.config` is the node `config`).
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "trueloop"
ORCHESTRATORS = {"pipelines", "cli", "__main__"}
# the one place above the library stages: pipelines chain stages, cli wires commands
SANDBOX_USERS = {"sandbox", "verify/code", "envs/tools.py"}
# what may import trueloop.sandbox: itself, code verification, the `python` tool


def sources() -> dict[str, str]:
    """{path relative to trueloop/: source} for every module of the package."""
    return {f.relative_to(ROOT).as_posix(): f.read_text() for f in sorted(ROOT.rglob("*.py"))}


@functools.cache
def parse(src: str) -> ast.Module:
    return ast.parse(src)


def node(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(tree: ast.AST, *, lazy_only: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """The runtime import statements of a module (inside functions only, with `lazy_only`)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(n: ast.AST, in_function: bool) -> None:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            return
        if isinstance(n, ast.Import | ast.ImportFrom) and (in_function or not lazy_only):
            found.append(n)
        inner = in_function or isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(n):
            visit(child, inner)

    visit(tree, False)
    return found


def targets(n: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(n, ast.ImportFrom):
        if n.module == "trueloop":  # from trueloop import x
            return [f"trueloop.{a.name}" for a in n.names]
        return [n.module] if n.module and n.module.startswith("trueloop.") else []
    return [a.name for a in n.names if a.name.startswith("trueloop.")]


def graph(srcs: dict[str, str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path, src in srcs.items():
        here = node("trueloop." + path.removesuffix(".py").replace("/", "."))
        for n in imports(parse(src)):
            for t in targets(n):
                if node(t) != here:
                    edges[here].add(node(t))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected sets of more than one node (and self-loops)."""
    def reach(a: str) -> set[str]:
        seen, todo = set(), [a]
        while todo:
            for b in edges.get(todo.pop(), set()) - seen:
                seen.add(b)
                todo.append(b)
        return seen

    found = []
    for a in sorted(edges):
        if a in reach(a):
            ring = {a} | {b for b in edges if b in reach(a) and a in reach(b)}
            if ring not in found:
                found.append(ring)
    return found


def test_no_import_cycle_between_subpackages() -> None:
    assert cycles(graph(sources())) == []


def test_the_check_fails_on_the_cycles_that_were_there() -> None:
    srcs = sources()
    # the prior's cache folder read back from the prior trainer (policy -> pipelines -> policy)
    srcs["policy/models.py"] += "\n\ndef _f():\n    from trueloop.pipelines.prior import x\n"
    (ring,) = cycles(graph(srcs))
    assert {"pipelines", "policy"} <= ring
    # the monitors' type hint imported at run time (audit -> update -> audit)
    srcs = sources()
    srcs["audit/monitors.py"] += "\nfrom trueloop.update.collect import Collected\n"
    (ring,) = cycles(graph(srcs))
    assert {"audit", "update"} <= ring
    # a TYPE_CHECKING import is no edge
    srcs = sources()
    srcs["audit/monitors.py"] += "\nif TYPE_CHECKING:\n    from trueloop.update import trainer\n"
    assert cycles(graph(srcs)) == []


def test_library_stages_never_import_an_orchestrator() -> None:
    edges = graph(sources())
    up = {(a, b) for a, bs in edges.items() for b in bs
          if a not in ORCHESTRATORS and b in ORCHESTRATORS}
    assert up == set()


def test_only_code_verification_and_the_python_tool_import_the_sandbox() -> None:
    users = set()
    for path, src in sources().items():
        if any(node(t) == "sandbox" for n in imports(parse(src)) for t in targets(n)):
            users.add(path)
    assert users and all(any(u == s or u.startswith(s + "/") for s in SANDBOX_USERS)
                         for u in users), sorted(users)


def said_above(lines: list[str], i: int) -> str:
    """Line i and the run of import and comment lines right above it (one comment can say why
    for a block of lazy imports)."""
    start = i
    while start > 0 and lines[start - 1].strip().startswith(("from ", "import ", "#")):
        start -= 1
    return "\n".join(lines[start:i + 1])


def test_every_lazy_import_of_trueloop_says_why() -> None:
    """An import inside a function hides a dependency; one of trueloop's own modules is kept
    there only to save start-up time (or an optional extra), said in a `# lazy: ...` comment on
    the line or the line above."""
    silent = []
    for path, src in sources().items():
        lines = src.splitlines()
        for n in imports(parse(src), lazy_only=True):
            if targets(n) and "# lazy" not in said_above(lines, n.lineno - 1):
                silent.append(f"{path}:{n.lineno}: {lines[n.lineno - 1].strip()}")
    assert silent == []


def test_the_command_line_starts_without_the_model_stack() -> None:
    """`trueloop --help` builds every command's parser; the lazy imports above exist for this."""
    import subprocess
    import sys

    code = ("import sys; from trueloop.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
