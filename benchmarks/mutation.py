"""Mutation testing of the modules whose numbers users gate releases on (issue 19, item 2).

Every mutant is a one-token change of the source (``>=``<->``>``, ``<``<->``<=``, ``==``<->``!=``,
``is``<->``is not``, ``in``<->``not in``, ``+``<->``-``, ``*``<->``/``, ``and``<->``or``, dropping
``not``/unary minus, a numeric constant + 1, ``True``<->``False``) or one deleted statement, inside
a function body or a module-level assignment. A mutant is *killed* when the module's own tests
fail (or time out) with it, *survived* when they pass. Scores are killed / (killed + survived).

Nothing is written to disk: the parent process imports pytest and the module once, then forks one
child per mutant; the child swaps the mutated code object into the live function (``__code__``,
so every ``from x import f`` sees it) or re-executes the mutated module-level assignment, and
runs the tests with ``pytest.main``. Function lines the tests never execute are reported as
survivors without running. Run by hand, one module at a time, at low priority (not part of CI)::

    nice -n 19 .venv/bin/python benchmarks/mutation.py gate          # one module
    nice -n 19 .venv/bin/python benchmarks/mutation.py --list        # the modules and their tests
    benchmarks/mutation.sh                                           # every module, one after another

Target: >= 90 % killed per module; survivors are printed with file:line and the change.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import io
import os
import signal
import sys
import time
import types
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> (source file, the tests that guard it) pairs; each file is mutated under its own tests only
_M = "tests/metrics/"
MODULES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "metrics": (
        ("harness/metrics/confusion.py", (_M + "test_confusion.py", _M + "test_confusion_edges.py", _M + "test_accumulation.py", _M + "test_segmentation.py")),
        ("harness/metrics/segmentation.py", (_M + "test_segmentation.py", _M + "test_segmentation_edges.py", _M + "test_confusion.py")),
        ("harness/metrics/robustness.py", (_M + "test_robustness.py", _M + "test_robustness_edges.py")),
        ("harness/metrics/stats.py", (_M + "test_stats.py", _M + "test_stats_edges.py")),
        ("harness/metrics/parity.py", ("tests/precision/test_parity_metrics.py", _M + "test_accumulation.py")),
        ("harness/metrics/argmax.py", (_M + "test_argmax.py",)),
        ("harness/metrics/bias.py", (_M + "test_bias.py", _M + "test_bias_edges.py")),
    ),
    "gate": (("harness/gate.py", ("tests/test_gate_limits.py",)),),
    "merge": (("harness/report/merge.py", ("tests/report/test_merge_refusals.py", "tests/runner/test_sweep.py::test_shards_merge_to_the_full_run",
                                            "tests/runner/test_sweep.py::test_shards_by_samples_add_up_to_the_full_run",
                                            "tests/runner/test_sweep.py::test_a_cell_failing_in_one_sample_shard_fails_in_the_merge_as_in_the_full_run")),),
    "missing": (("harness/corruptions/missing.py", ("tests/corruptions/test_missing.py",)),),
    "scenarios": tuple((f"harness/scenarios/{name}.py", ("tests/scenarios",)) for name in ("cells", "emm", "nm", "rmm", "plan", "bias")),
}

SWAP_CMP = {ast.GtE: ast.Gt, ast.Gt: ast.GtE, ast.LtE: ast.Lt, ast.Lt: ast.LtE, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
            ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
SWAP_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}
DELETABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Raise, ast.If, ast.For, ast.Assert)


@dataclass(frozen=True)
class Site:
    """One mutation: the ``index``-th candidate node of the file (walk order), what it becomes."""

    file: str
    index: int
    line: int
    change: str
    scope: str  # qualname of the enclosing top-level function/method, or "<module>:<names>"


def _scoped_nodes(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """(node, scope) for every node that may be mutated: function bodies (not decorators,
    defaults, annotations, docstrings, f-strings) and module-level assignments."""

    def body_nodes(stmts: list[ast.stmt], scope: str) -> Iterator[tuple[ast.AST, str]]:
        for i, stmt in enumerate(stmts):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                continue  # docstring
            yield from walk(stmt, scope)

    def walk(node: ast.AST, scope: str) -> Iterator[tuple[ast.AST, str]]:
        if isinstance(node, (ast.JoinedStr, ast.arguments)) or node is None:
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return  # nested functions are mutated with their enclosing function (walked below via body)
        yield node, scope
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list"):
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield from body_nodes(child.body, scope)  # a nested def: its body, same live code object
                elif isinstance(child, ast.Lambda):
                    yield from walk(child.body, scope)
                elif isinstance(child, ast.AST):
                    yield from walk(child, scope)

    def functions(stmts: list[ast.stmt], prefix: str) -> Iterator[tuple[ast.AST, str]]:
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from body_nodes(stmt.body, prefix + stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                yield from functions(stmt.body, prefix + stmt.name + ".")
            elif not prefix and isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                names = ",".join(t.id for t in targets if isinstance(t, ast.Name))
                if names and names != "__all__":
                    for node, _ in walk(stmt.value, ""):
                        yield node, f"<module>:{names}"

    yield from functions(tree.body, "")


def _candidates(node: ast.AST) -> list[str]:
    """The changes possible at ``node`` (as text; applied by ``_apply``)."""
    out = []
    if isinstance(node, ast.Compare):
        out += [f"cmp{i}:{type(op).__name__}->{SWAP_CMP[type(op)].__name__}" for i, op in enumerate(node.ops) if type(op) in SWAP_CMP]
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAP_BIN:
        out.append(f"op:{type(node.op).__name__}->{SWAP_BIN[type(node.op)].__name__}")
    elif isinstance(node, ast.BoolOp):
        out.append("bool:" + ("And->Or" if isinstance(node.op, ast.And) else "Or->And"))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        out.append(f"drop:{type(node.op).__name__}")
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        out.append(f"const:{node.value}->{not node.value}")
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        out.append(f"const:{node.value!r}->{node.value + 1!r}")
    if isinstance(node, ast.stmt) and isinstance(node, DELETABLE):
        out.append(f"delete:{type(node).__name__}")
    return out


_SNAPSHOT: dict[str, str] = {}  # file -> the source the live module was imported from


def _source(file: str) -> str:
    return _SNAPSHOT[file] if file in _SNAPSHOT else (ROOT / file).read_text()


def snapshot(file: str) -> None:
    """Import the module and keep the text it was imported from (the tree is edited by others
    while a run lasts; every mutant must be made from the code that is live)."""
    module = importlib.import_module(file[:-3].replace("/", "."))
    text = (ROOT / file).read_text()
    compiled = list(_codes(compile(text, str(ROOT / file), "exec")))
    for qualname, functions in _live_functions(module).items():
        fresh = [c for c in compiled if c.co_qualname == qualname]
        live = functions[0].__code__
        if not any(c.co_code == live.co_code and c.co_firstlineno == live.co_firstlineno for c in fresh):
            raise SystemExit(f"{file} changed on disk after it was imported ({qualname}); run again")
    _SNAPSHOT[file] = text


def enumerate_sites(file: str) -> list[Site]:
    tree = ast.parse(_source(file), file)
    sites = []
    for node, scope in _scoped_nodes(tree):
        for change in _candidates(node):
            sites.append(Site(file, len(sites), node.lineno, change, scope))
    return sites


def _apply(tree: ast.Module, site: Site) -> ast.Module:
    """``tree`` with ``site`` applied (in place), by walking the same candidates in the same order."""
    count = 0
    for node, _ in _scoped_nodes(tree):
        for change in _candidates(node):
            if count == site.index:
                _change(node, change)
                return tree
            count += 1
    raise LookupError(site)


class _Drop(Exception):
    pass


def _change(node: ast.AST, change: str) -> None:
    kind, _, rest = change.partition(":")
    if kind.startswith("cmp"):
        i = int(kind[3:])
        node.ops[i] = SWAP_CMP[type(node.ops[i])]()  # type: ignore[attr-defined]
    elif kind == "op":
        node.op = SWAP_BIN[type(node.op)]()  # type: ignore[attr-defined]
    elif kind == "bool":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]
    elif kind == "drop":  # -x -> +x; not x -> not not x (the truth value of x)
        if isinstance(node.op, ast.USub):  # type: ignore[attr-defined]
            node.op = ast.UAdd()  # type: ignore[attr-defined]
        else:
            node.operand = ast.copy_location(ast.UnaryOp(ast.Not(), node.operand), node)  # type: ignore[attr-defined]
    elif kind == "const":
        node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1  # type: ignore[attr-defined]
    elif kind == "delete":
        raise _Drop()


def _mutated_tree(site: Site) -> ast.Module:
    tree = ast.parse(_source(site.file), site.file)
    try:
        return _apply(tree, site)
    except _Drop:
        return _delete(tree, site)


def _delete(tree: ast.Module, site: Site) -> ast.Module:
    count = 0
    target = None
    for node, _ in _scoped_nodes(tree):
        for _change_text in _candidates(node):
            if count == site.index:
                target = node
            count += 1
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list) and any(v is target for v in value):
                kept = [v for v in value if v is not target]
                setattr(parent, name, kept or [ast.copy_location(ast.Pass(), target)])
                return tree
    raise LookupError(site)


def _live_functions(module: types.ModuleType) -> dict[str, list[types.FunctionType]]:
    """qualname -> the module's live function objects (unwrapped decorators, methods, properties)."""
    out: dict[str, list[types.FunctionType]] = {}

    def add(obj: object) -> None:
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for f in (obj.fget, obj.fset, obj.fdel):
                if f is not None:
                    add(f)
            return
        if callable(obj) and hasattr(obj, "__wrapped__"):
            obj = inspect.unwrap(obj)  # type: ignore[arg-type]
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__ and obj.__code__.co_filename == module.__file__:
            out.setdefault(obj.__qualname__, []).append(obj)

    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            for attr in vars(value).values():
                add(attr)
        else:
            add(value)
    return out


def _rebind(module: types.ModuleType, name: str, old: object, new: object) -> None:
    """A mutated module constant reaches what copied it at import time: ``from m import NAME``
    aliases in other modules, and function defaults evaluated from it."""
    for other in list(sys.modules.values()):
        namespace = getattr(other, "__dict__", None)
        if other is not module and isinstance(namespace, dict) and namespace.get(name) is old:
            namespace[name] = new
    for functions in _live_functions(module).values():
        for function in functions:
            if function.__defaults__ and any(d is old for d in function.__defaults__):
                function.__defaults__ = tuple(new if d is old else d for d in function.__defaults__)
            if function.__kwdefaults__ and any(d is old for d in function.__kwdefaults__.values()):
                function.__kwdefaults__ = {k: new if d is old else d for k, d in function.__kwdefaults__.items()}


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def install(site: Site) -> None:
    """Make the live module behave as the mutant (called in the forked child)."""
    module = importlib.import_module(site.file[:-3].replace("/", "."))
    tree = _mutated_tree(site)
    if site.scope.startswith("<module>:"):
        names = site.scope.split(":", 1)[1].split(",")
        for stmt in tree.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
            if [t.id for t in targets if isinstance(t, ast.Name)] == names:
                before = {name: vars(module).get(name) for name in names}
                exec(compile(ast.Module([stmt], []), str(ROOT / site.file), "exec"), vars(module))
                for name in names:
                    _rebind(module, name, before[name], vars(module)[name])
                return
        raise LookupError(site)
    code = compile(tree, str(ROOT / site.file), "exec")
    live = _live_functions(module)[site.scope]
    new = [c for c in _codes(code) if c.co_qualname == site.scope]
    if len(new) != 1 or len(live) < 1:
        raise LookupError(f"{site.scope}: {len(new)} code objects, {len(live)} live functions")
    if all(function.__code__.co_code == new[0].co_code and function.__code__.co_consts == new[0].co_consts for function in live):
        raise LookupError(f"{site}: the mutant compiles to the live code (is the module the snapshot?)")
    for function in live:
        function.__code__ = new[0]


def _run_tests(tests: tuple[str, ...]) -> int:
    import pytest

    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # no entry-point scan per mutant (hypothesis runs without its plugin)

    args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "addopts=", "--no-header", "-W", "ignore"]
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        return int(pytest.main(args))


def _child(site: Site | None, tests: tuple[str, ...], trace_files: set[str] | None, trace_out: int | None) -> None:
    """In the forked child: install the mutant, run the tests, exit with pytest's code."""
    code = 99
    try:
        os.chdir(ROOT)
        if site is not None:
            install(site)
        lines: set[tuple[str, int]] = set()
        if trace_files:
            def tracer(frame, event, arg):  # noqa: ANN001
                if frame.f_code.co_filename not in trace_files:
                    return None

                def local(frame, event, arg):  # noqa: ANN001
                    if event == "line":
                        lines.add((frame.f_code.co_filename, frame.f_lineno))
                    return local
                return local
            sys.settrace(tracer)
            import threading
            threading.settrace(tracer)
        code = _run_tests(tests)
        sys.settrace(None)
        if trace_out is not None:
            os.write(trace_out, "\n".join(f"{f}\t{n}" for f, n in lines).encode())
    except BaseException as error:  # noqa: BLE001 - a mutant that cannot be installed
        sys.__stderr__.write(f"mutant {site}: {type(error).__name__}: {error}\n")
        code = 98
    finally:
        os._exit(code)


def run(site: Site | None, tests: tuple[str, ...], timeout: float, trace_files: set[str] | None = None) -> tuple[str, float, set[tuple[str, int]]]:
    """Fork, run one mutant (or the unmutated baseline); 'killed' / 'survived' / 'timeout' / 'error'."""
    read_fd, write_fd = os.pipe() if trace_files else (None, None)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        if read_fd is not None:
            os.close(read_fd)
        _child(site, tests, trace_files, write_fd)
    chunks = []
    if read_fd is not None:
        os.close(write_fd)  # type: ignore[arg-type]
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
        os.close(read_fd)
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
        elif time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start, set()
        else:
            time.sleep(0.02)
    seconds = time.monotonic() - start
    lines = set()
    for row in b"".join(chunks).decode().splitlines():
        file, _, number = row.partition("\t")
        lines.add((file, int(number)))
    verdict = {0: "survived", 98: "error", 99: "error"}.get(status, "killed")
    return verdict, seconds, lines


def mutate_module(name: str, limit: int | None = None, only: str | None = None) -> dict[str, list[Site]]:
    import pytest  # imported once in the parent, inherited by every child

    results: dict[str, list[Site]] = {"killed": [], "survived": [], "timeout": [], "error": [], "uncovered": []}
    for file, tests in MODULES[name]:
        if only and only not in file:
            continue
        missing = [t for t in tests if not (ROOT / t.split("::")[0]).exists()]
        if missing:
            raise SystemExit(f"{name}: test file(s) {', '.join(missing)} not found")
        snapshot(file)
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):  # test modules imported once, here
            pytest.main([*tests, "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "addopts="])
        verdict, baseline, covered = run(None, tests, timeout=1800, trace_files={str(ROOT / file)})
        if verdict != "survived":
            raise SystemExit(f"{file}: the tests fail without any mutant ({verdict}); fix them first: pytest {' '.join(tests)}")
        timeout = max(20.0, 4 * baseline)
        sites = enumerate_sites(file)[:limit]
        print(f"{file}: {len(sites)} mutants; tests {' '.join(tests)} take {baseline:.1f} s (timeout {timeout:.0f} s)", flush=True)
        for done, site in enumerate(sites, 1):
            if done % 25 == 0:
                print(f"  {done}/{len(sites)} ...", flush=True)
            if not site.scope.startswith("<module>") and (str(ROOT / site.file), site.line) not in covered:
                results["uncovered"].append(site)
                continue
            outcome, _, _ = run(site, tests, timeout)
            results[outcome].append(site)
            if outcome in ("survived", "error"):
                print(f"  {outcome}: {site.file}:{site.line} {site.scope} {site.change}", flush=True)
        mine = {kind: sum(s.file == file for s in sites_) for kind, sites_ in results.items()}
        dead, alive = mine["killed"] + mine["timeout"], mine["survived"] + mine["uncovered"]
        print(f"{file}: {100.0 * dead / max(1, dead + alive):.1f} % killed ({dead} killed, {mine['survived']} survived, "
              f"{mine['uncovered']} uncovered)", flush=True)
    return results


def report(name: str, results: dict[str, list[Site]]) -> float:
    killed = len(results["killed"]) + len(results["timeout"])
    survived = len(results["survived"]) + len(results["uncovered"])
    score = 100.0 * killed / max(1, killed + survived)
    print(f"{name}: {score:.1f} % killed ({killed} killed incl. {len(results['timeout'])} timeouts, "
          f"{len(results['survived'])} survived, {len(results['uncovered'])} on lines the tests never run, "
          f"{len(results['error'])} not applicable)")
    for kind in ("survived", "uncovered", "error"):
        for site in results[kind]:
            print(f"  {kind:9s} {site.file}:{site.line} {site.scope} {site.change}")
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"any of {', '.join(MODULES)}; default: all, one after another")
    parser.add_argument("--list", action="store_true", help="print the modules, their files and tests")
    parser.add_argument("--limit", type=int, help="only the first N mutants of each file (a smoke run)")
    parser.add_argument("--files", help="only the module's files whose path contains this text (e.g. confusion)")
    parser.add_argument("--target", type=float, default=90.0, help="exit 1 when a module scores below this percent")
    args = parser.parse_args(argv)
    if args.list:
        for name, pairs in MODULES.items():
            print(name + "".join(f"\n  {file}: {' '.join(tests)}" for file, tests in pairs))
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    scores = {}
    for name in args.modules or list(MODULES):
        scores[name] = report(name, mutate_module(name, args.limit, args.files))
    print("scores: " + ", ".join(f"{n} {s:.1f} %" for n, s in scores.items()))
    return 0 if all(s >= args.target for s in scores.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
