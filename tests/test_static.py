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
    out = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_on_ledger_graph_and_api() -> None:
    out = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_documents_point_only_at_files_that_exist() -> None:
    """Links in the README and docs/, and the docs the OpenAPI description names, are in
    the repository (a reader must not be sent to a file only the authors have)."""
    import re

    from api.app import API_DESCRIPTION

    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text("utf-8")):
            if "://" not in target and not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(ROOT)} → {target}")
    for target in re.findall(r"`(docs/[^`]+)`", API_DESCRIPTION):
        if not (ROOT / target).exists():
            missing.append(f"OpenAPI description → {target}")
    assert not missing, missing
