"""Imports run one way: mailserver → gateway → {crypto, directory} → storage → config
(DESIGN section 1), and each package is the one in this repository."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = {
    "config": set(),
    "storage": {"config"},
    "crypto": {"storage", "config"},
    "directory": {"storage", "config"},
    "gateway": {"crypto", "directory", "storage", "config"},
    "mailserver": {"gateway", "crypto", "directory", "storage", "config"},
}
# Alembic's env.py must see every model module (DESIGN section 1).
EXEMPT = {REPO / "storage" / "migrations" / "env.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_package_imports_only_downward(package: str) -> None:
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        if path in EXEMPT:
            continue
        for name in _imports(path) & set(LAYERS):
            if name != package and name not in LAYERS[package]:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


def test_layering_check_detects_an_upward_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("from mailserver.cli import main\nimport gateway.rules\n")
    assert _imports(sample) == {"mailserver", "gateway"}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_package_is_the_repositorys_own(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(REPO)
