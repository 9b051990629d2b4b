"""The roles of DESIGN.md stay blind to each other: every import in a role's modules, lazy ones
inside functions included, is checked against what that role never imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import metanas

ROOT = Path(metanas.__file__).parent

#: role -> the top-level names (metanas packages or third-party modules) it never imports
NEVER = {
    "types": {"space", "strategies", "evaluation", "storage", "execution", "study", "torch"},
    "space": {"strategies", "evaluation", "storage", "execution", "study", "torch"},
    "strategies": {"evaluation", "storage", "execution", "study", "nn", "torch", "ray"},
    "evaluation": {"strategies", "storage", "execution", "study"},
    "storage": {"space", "strategies", "evaluation", "execution", "study", "nn", "torch"},
    "execution": {"space", "strategies", "evaluation", "storage", "study", "torch"},
}


def _imports(path: Path) -> set[str]:
    """The first two dotted parts of every absolute import in ``path`` (``metanas.x`` or ``x``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for m in modules:
            parts = m.split(".")
            names.add(parts[1] if parts[0] == "metanas" and len(parts) > 1 else parts[0])
    return names


def _modules(role: str) -> list[Path]:
    pkg = ROOT / role
    return sorted(pkg.rglob("*.py")) if pkg.is_dir() else [ROOT / f"{role}.py"]


@pytest.mark.parametrize("role", sorted(NEVER))
def test_a_role_never_imports_what_design_forbids(role):
    files = _modules(role)
    assert files and all(f.exists() for f in files)
    wrong = {
        f"{f.relative_to(ROOT)} imports {name}" for f in files for name in _imports(f) & NEVER[role]
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import torch.nn\n    from metanas.storage.sqlite import X\n")
    assert _imports(f) == {"torch", "storage"}
