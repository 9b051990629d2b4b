"""``metanas proxies``: score a seeded sample of architectures with zero-cost proxies.

With ``--table`` (NAS-Bench-201), it also prints each proxy's Spearman rank correlation with the
table's validation and test accuracy, and the rank vote of synflow, jacob_cov and snip when all
three were computed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from metanas.cli.app import app, check_writable_file, strict_json
from metanas.types import MAX_THREADS

DEFAULT_PROXIES = "params,flops,synflow,nwot,jacob_cov,snip,grad_norm,fisher"


@app.command("proxies")
def proxies(
    space: Annotated[str, typer.Option("--space", help="Search space (nb201).")] = "nb201",
    n: Annotated[int, typer.Option("--n", help="Architectures to score (seeded sample).")] = 200,
    table: Annotated[
        str | None, typer.Option("--table", help="Benchmark table for correlations (nb201).")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Table data set of --table: cifar10 (default) or cifar100."),
    ] = None,
    names: Annotated[
        str,
        typer.Option(
            "--proxies",
            help="Comma-separated proxy names; vote adds the rank vote of synflow, jacob_cov and snip.",
        ),
    ] = DEFAULT_PROXIES,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=2, help="Batch for data proxies.")
    ] = 64,
    data: Annotated[
        str, typer.Option("--data", help="random, or a data set name such as fashion_mnist.")
    ] = "random",
    channels: Annotated[int, typer.Option("--C", min=1, help="NB201 stem channels.")] = 16,
    cells: Annotated[int, typer.Option("--N", min=1, help="NB201 cells per stage.")] = 5,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**64 - 1, help="Seeds sample, batch and weights.")
    ] = 0,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=0,
            max=MAX_THREADS,
            help="torch CPU threads (0: torch's default; 1 is fastest on a busy machine).",
        ),
    ] = 1,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write every architecture's scores here.")
    ] = None,
) -> None:
    """Score N sampled architectures by zero-cost proxies; with --table, print correlations."""
    import numpy as np
    import torch

    from metanas.evaluation.proxies import compute_proxies, make_batch, model_factory
    from metanas.evaluation.proxies.registry import check_names
    from metanas.space import get_space
    from metanas.types import UserInputError

    if space != "nb201":
        raise UserInputError(f"metanas proxies supports --space nb201, not {space!r}.")
    if table not in (None, "nb201"):
        raise UserInputError(f"--table must be nb201, got {table!r}.")
    if n < 1:
        raise UserInputError(f"--n must be at least 1, got {n}.")
    from metanas.evaluation.proxies import VOTE_PROXIES, rank_vote

    if dataset is not None and table is None:
        raise UserInputError("--dataset picks the data set of --table; add --table nb201.")
    dataset = dataset or "cifar10"
    asked = [n.strip() for n in names.split(",")]
    vote = "vote" in asked  # the rank vote of its proxies: score those
    wanted = check_names([n for n in asked if n != "vote"] + [p for p in VOTE_PROXIES if vote])
    if json_path is not None:  # fail now rather than after scoring every architecture
        check_writable_file(json_path, "--json")
    if threads > 0:
        torch.set_num_threads(threads)
    import metanas.space.nb201  # noqa: F401  (registers the space)

    sp = get_space("nb201")
    ev = None
    if table is not None:
        from metanas.evaluation.tabular import nb201_table

        ev = nb201_table(dataset)
        sp = ev.restrict(sp)
    rng = np.random.default_rng(seed)
    archs = [sp.sample(rng) for _ in range(n)]
    shape = (3, 32, 32)
    batch = make_batch(data, batch_size, shape, 10, seed=seed)
    opts = {"C": channels, "N": cells}
    scores: dict[str, list[float]] = {k: [] for k in wanted}
    t0 = time.perf_counter()
    for arch in archs:
        got = compute_proxies(model_factory("nb201", arch, shape, 10, seed, opts), batch, wanted)
        for k, v in got.items():
            scores[k].append(v)
    secs = time.perf_counter() - t0
    typer.echo(
        f"scored {n} architectures with {len(wanted)} proxies in {secs:.1f} s "
        f"({secs / n:.3f} s per architecture)"
    )
    cols: dict[str, Any] = dict(scores)
    if all(v in scores for v in VOTE_PROXIES):
        cols["vote"] = list(rank_vote(scores))
    records = [
        {"arch": sp.describe(a), **{k: v[i] for k, v in cols.items()}} for i, a in enumerate(archs)
    ]
    if ev is not None:
        from metanas.evaluation.proxies.combined import quantile_ranks

        rows = np.array([ev.row(a) for a in archs], dtype=int)  # sampled from the table
        prefix = "c10" if dataset == "cifar10" else "c100"
        val = ev.values(f"{prefix}_valid_acc_200")[rows]
        test = ev.values(f"{prefix}_test_acc_200")[rows]
        typer.echo(f"Spearman rho vs {dataset} accuracy (200 epochs), {n} cells:")
        typer.echo(f"{'proxy':<12} {'val':>7} {'test':>7}")
        for k, v in cols.items():
            q = quantile_ranks(v)
            with np.errstate(invalid="ignore", divide="ignore"):  # one cell, or a constant: n/a
                rv = float(np.corrcoef(q, quantile_ranks(val))[0, 1]) if n > 1 else math.nan
                rt = float(np.corrcoef(q, quantile_ranks(test))[0, 1]) if n > 1 else math.nan
            typer.echo(f"{k:<12} {_rho(rv):>7} {_rho(rt):>7}")
        for rec, v, t in zip(records, val, test):
            rec["val_acc"], rec["test_acc"] = float(v), float(t)
    if json_path is not None:
        json_path.write_text(strict_json(records))


def _rho(r: float) -> str:
    return "n/a" if math.isnan(r) else f"{r:.3f}"
