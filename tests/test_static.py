"""Lint and types are part of the test run: ruff on everything, mypy strict on ledger/,
graph/ and api/ (only untyped third-party packages are let off, in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the test extra)")
    return found


def test_ruff_is_clean() -> None:
    out = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_applied() -> None:
    out = subprocess.run(
        [_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr + "\n(run `ruff format .`)"


def test_mypy_strict_on_ledger_graph_and_api() -> None:
    out = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_documents_point_only_at_files_that_exist() -> None:
    """Links in the README and docs/, and the docs the OpenAPI description names, are in
    the repository (a reader must not be sent to a file only the authors have)."""
    import re

    from api.http.app import API_DESCRIPTION

    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text("utf-8")):
            if "://" not in target and not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(ROOT)} → {target}")
    for target in re.findall(r"`(docs/[^`]+)`", API_DESCRIPTION):
        if not (ROOT / target).exists():
            missing.append(f"OpenAPI description → {target}")
    assert not missing, missing


def test_the_interfaces_have_no_import_cycle() -> None:
    """``api/`` is three rooms (http, cli, pages) whose modules import each other without a
    cycle, at import time (imports inside functions are not counted: they run later)."""
    import ast

    modules = {}
    for path in sorted((ROOT / "api").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.parse(path.read_text("utf-8")).body:
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            edges[name].update(t for t in targets if t in modules and t != name)
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " → ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for target in sorted(edges[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(modules):
        visit(name, [])


def _python_files(*rooms: str) -> list[Path]:
    return sorted(p for room in rooms for p in (ROOT / room).rglob("*.py"))


def test_no_view_or_command_catches_a_ledger_error_to_remap_it() -> None:
    """One map: an error reaches the user through ``api/http/errors.py`` or the CLI's one
    handler. Pages may register handlers that render HTML (``errorhandler``), and a command
    may add context with ``noting``; no ``except`` in ``api/`` names a ``LedgerError``."""
    import ast
    import inspect

    import api.http.errors
    from ledger import errors

    ledger_errors = {
        name
        for module in (errors, api.http.errors)
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, errors.LedgerError)
    } | {"KeyFileError", "BundleError", "Problem"}
    trees = {path: ast.parse(path.read_text("utf-8")) for path in _python_files("api")}
    allowed = {  # the CLI's one handler, and the note it lets a command add
        id(node)
        for f in ast.walk(trees[ROOT / "api" / "cli" / "core.py"])
        if isinstance(f, ast.FunctionDef) and f.name in ("invoke", "noting")
        for node in ast.walk(f)
    }
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ExceptHandler) or node.type is None or id(node) in allowed:
                continue
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            names = {c.id if isinstance(c, ast.Name) else getattr(c, "attr", "") for c in caught}
            if names & ledger_errors:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} catches {sorted(names)}")
    assert not found, "\n".join(found)


def test_no_module_imports_another_modules_private_names() -> None:
    import ast

    found = []
    for path in _python_files("api", "ledger", "graph"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and node.module != "__future__":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module} {private}")
    assert not found, "\n".join(found)
