"""The README's Python snippets that run on tables in seconds run as written, in order, in one
namespace (as a reader pastes them); the others train networks or call the reader's own code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def pick(*marks: str) -> list[str]:
    """The snippets containing each mark, one per mark, so a reworded README fails loudly."""
    found = []
    for mark in marks:
        hits = [s for s in snippets() if mark in s]
        assert len(hits) == 1, f"README should hold one Python snippet with {mark!r}"
        found.append(hits[0])
    return found


def test_readme_table_snippets_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = pick("Condition(", "study_importance(study)", "study_fidelity(study)")
    namespace: dict[str, object] = {}
    exec("import metanas\nfrom metanas.evaluation.tabular import nb201_table", namespace)
    for snippet in code:
        exec(compile(snippet, str(README), "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("interactions ") for line in out)
    assert any(line.startswith("12.0 ") or line.startswith("12 ") for line in out)


@pytest.mark.slow
def test_readme_proxy_snippet_runs(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec("import metanas", namespace)
    exec(compile(pick("ScreenedSpace(")[0], str(README), "exec"), namespace)
    assert len(namespace["study"].trials) == 20  # type: ignore[attr-defined]


def test_readme_start_from_snippet_runs():
    namespace: dict[str, object] = {}
    exec("import metanas\nobjective = lambda a: a['depth']", namespace)  # README's stand-in
    for snippet in pick("Condition(", "start_from=[baseline]"):
        exec(compile(snippet, str(README), "exec"), namespace)
    study = namespace["study"]
    study.optimize(3)  # type: ignore[attr-defined]
    assert dict(study.trials[0].arch) == namespace["baseline"]  # type: ignore[attr-defined]
