"""``metanas kb STORAGE``: what a store knows — its tasks, their descriptors, how alike they are,
and each task's best architectures (the material a warm start draws on)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from metanas.cli.app import app, table_console


def _num(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


@app.command("kb")
def kb(
    storage: Annotated[str, typer.Argument(help="Store file or sqlite:///path.db URL.")],
    top: Annotated[
        int, typer.Option("--top", "-n", min=1, help="Best architectures per task.")
    ] = 3,
) -> None:
    """Show the tasks STORAGE knows, their pairwise similarity and their best architectures."""
    from rich.table import Table

    from metanas.meta.knowledge import KnowledgeBase

    console = table_console()
    kbase = KnowledgeBase(storage)
    try:
        tasks = kbase.tasks()
        if not tasks:
            console.print(f"{storage} holds no complete trials yet: nothing to learn from.")
            return
        t = Table(title=f"tasks in {storage}")
        for col in (
            "#",
            "task",
            "modality",
            "input",
            "classes",
            "samples",
            "probes",
            "space",
            "objective",
            "studies",
            "archs",
        ):
            t.add_column(col, overflow="fold")
        for i, pt in enumerate(tasks):
            ti = pt.task
            n_probe = sum(k.startswith("probe/") for k in ti.features)
            t.add_row(
                str(i),
                pt.name,
                ti.modality,
                "x".join(map(str, ti.input_shape)) or "-",
                str(ti.n_classes or "-"),
                str(ti.n_samples or "-"),
                str(n_probe),
                str(pt.space.get("name", pt.space.get("kind", "?"))),
                f"{pt.direction[:3]} {pt.objective}",
                str(len(pt.studies)),
                str(len(pt.evaluations)),
            )
        console.print(t)
        if len(tasks) > 1:
            sim = kbase.similarity_matrix(tasks)
            s = Table(title="similarity (score; rank corr / shared archs)")
            s.add_column("#")
            for j in range(len(tasks)):
                s.add_column(str(j), justify="right")
            for i, row in enumerate(sim):
                s.add_row(
                    str(i),
                    *(
                        "1" if i == j else f"{x.score:.2f} ({_num(x.rank)}/{x.n_shared})"
                        for j, x in enumerate(row)
                    ),
                )
            console.print(s)
        b = Table(title=f"best {top} architectures per task")
        for col in ("#", "task", "value", "architecture"):
            b.add_column(col, overflow="fold")
        for i, pt in enumerate(tasks):
            describe = _describer(pt.space)
            for arch, v in pt.best(top):
                b.add_row(str(i), pt.name, f"{v:.6g}", describe(arch))
        console.print(b)
    finally:
        kbase.close()


def _describer(space_dict: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], str]:
    try:
        from metanas.space import space_from_dict

        return space_from_dict(space_dict).describe
    except Exception:  # a space kind this installation lacks: show the raw dict
        return lambda a: str(dict(a))
