"""A scan of the test suite for tests that cannot fail (issue 25).

Four findings, read from the syntax tree of every test module:

- *assertion-free*: a `test_*` function that never asserts: no `assert`, no `pytest.raises`/`warns`/`fail`,
  and no call (by name, followed through the suite's own helpers) to a function that does;
- *either-or*: an `assert` whose condition is an `or` (or a conditional expression) with a test parameter
  (a fixture or a parametrized argument) on one side: one branch of the run asserts nothing about the other;
- *wall-clock*: `datetime.now()`, `datetime.utcnow()`, `date.today()` or `time.time()` anywhere in a test
  module (tests inject the clock; `time.monotonic()` for a deadline is fine);
- *fixed-sleep*: `time.sleep(...)` outside a loop (wait on a condition; a sleep inside a polling loop is fine).

`tests/unit/test_quality_scan.py` runs it over the suite in `make test`; it also checks the scan itself on
small bad and good examples.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

_RAISES = {"raises", "warns", "fail", "deprecated_call"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    test: str
    kind: str  # "assertion-free", "either-or", "wall-clock" or "fixed-sleep"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.test}: {self.kind}"


def call_name(call: ast.Call) -> str:
    """The name a call is made by: `f` for `f(...)`, `m` for `x.m(...)` ("" for anything else)."""
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _called_names(node: ast.AST) -> set[str]:
    return {call_name(sub) for sub in ast.walk(node) if isinstance(sub, ast.Call)} - {""}


def _asserts_directly(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Call):
            # pytest.raises(...), pytest.fail(...), and unittest-style self.assertX(...)
            name = call_name(sub)
            if name in _RAISES or (isinstance(sub.func, ast.Attribute) and name.startswith("assert")):
                return True
    return False


def _functions(trees: dict[str, ast.Module]) -> dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]:
    by_name: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                by_name.setdefault(node.name, []).append(node)
    return by_name


def _asserting_names(by_name: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]) -> set[str]:
    """Names of the suite's functions that assert, directly or through another of the suite's functions
    (a fixed point over calls by name: a helper named like another counts if either asserts)."""
    asserting = {name for name, defs in by_name.items() if any(_asserts_directly(d) for d in defs)}
    calls = {name: set().union(*(_called_names(d) for d in defs)) for name, defs in by_name.items()}
    changed = True
    while changed:
        changed = False
        for name, called in calls.items():
            if name not in asserting and called & asserting:
                asserting.add(name)
                changed = True
    return asserting


def _params(test: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    args = test.args
    return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs} - {"self"}


def _names(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)}


def _either_or(test: ast.FunctionDef | ast.AsyncFunctionDef) -> list[int]:
    params = _params(test)
    lines = []
    for sub in ast.walk(test):
        if not isinstance(sub, ast.Assert):
            continue
        cond = sub.test
        if isinstance(cond, ast.BoolOp) and isinstance(cond.op, ast.Or):
            # a side naming only the test's parameters (`not stack.day`, `token == expected`) is true or
            # false for a whole branch of the run, whatever the code under test did
            if any(_names(operand) & params and not _names(operand) - params - {"len"} for operand in cond.values):
                lines.append(sub.lineno)
        elif isinstance(cond, ast.IfExp) and _names(cond.test) & params:
            lines.append(sub.lineno)
    return lines


_WALL_CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}


def _clock_and_sleeps(path: str, tree: ast.Module) -> list[Finding]:
    findings: list[Finding] = []

    def visit(node: ast.AST, in_loop: bool, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
            loop = in_loop or isinstance(child, (ast.While, ast.For, ast.AsyncFor))
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                loop = False  # a helper's body is not inside its caller's loop
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) \
                    and isinstance(child.func.value, ast.Name):
                pair = (child.func.value.id, child.func.attr)
                if pair in _WALL_CLOCK:
                    findings.append(Finding(path, child.lineno, where, "wall-clock"))
                if pair == ("time", "sleep") and not in_loop:
                    findings.append(Finding(path, child.lineno, where, "fixed-sleep"))
            visit(child, loop, name)

    visit(tree, False, "<module>")
    return findings


def scan_sources(sources: dict[str, str]) -> list[Finding]:
    """Findings in `sources` (path -> text); helpers are followed across all of them."""
    trees = {path: ast.parse(text, filename=path) for path, text in sources.items()}
    asserting = _asserting_names(_functions(trees))
    findings: list[Finding] = []
    for path, tree in trees.items():
        if not Path(path).name.startswith("test_"):
            continue
        findings.extend(_clock_and_sleeps(path, tree))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.name.startswith("test_"):
                continue
            if not _asserts_directly(node) and not (_called_names(node) & asserting):
                findings.append(Finding(path, node.lineno, node.name, "assertion-free"))
            findings.extend(Finding(path, line, node.name, "either-or") for line in _either_or(node))
    return findings


def scan(root: Path) -> list[Finding]:
    sources = {str(p.relative_to(root.parent)): p.read_text() for p in sorted(root.rglob("*.py"))}
    return scan_sources(sources)
