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


def _package(path: Path) -> str:
    """The dotted package a module of metanas lives in (``metanas.a`` for ``a/b.py``)."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")


def _imports(path: Path, package: str | None = None) -> set[str]:
    """The first two dotted parts of every import in ``path`` (``metanas.x`` or ``x``); a
    relative import is resolved against ``package`` (by default, where ``path`` lies)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = (package or _package(path)).split(".")
                assert node.level <= len(pkg), f"{path}: relative import beyond metanas"
                up = ".".join(pkg[: len(pkg) - node.level + 1])
                base = f"{up}.{base}" if base else up
            # ``from metanas import storage`` (or ``from .. import storage``) names a package
            modules = [f"{base}.{a.name}" for a in node.names] if base == "metanas" else [base]
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


def test_the_check_resolves_relative_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "from . import base\n"
        "def f():\n"
        "    from ..storage.sqlite import X\n"
        "    from .. import execution\n"
        "    from metanas import study\n"
    )
    assert _imports(f, "metanas.strategies") == {"strategies", "storage", "execution", "study"}
    assert _package(ROOT / "strategies" / "random.py") == "metanas.strategies"
    assert _package(ROOT / "strategies" / "__init__.py") == "metanas.strategies"
    assert _package(ROOT / "study.py") == "metanas"
