"""``metanas search --executor/--workers/--address/--warm-start`` and ``bench --warm-start``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from metanas.cli import main
from metanas.cli.search import executor_name
from metanas.config import parse_config
from metanas.storage.sqlite import SQLiteStore
from metanas.study import load_study

# a tiny MLP search on digits: a trial trains in well under a second
TINY = """\
study: past
seed: 0
space: {name: mlp, params: {max_depth: 2, widths: [8, 32], activations: [relu, tanh], dropouts: [0.0]}}
strategy: {name: random}
data: {name: digits, limit: 300}
training: {epochs: 1, batch_size: 64, lr: 0.01, num_threads: 1}
budget: {n_trials: 2}
final: {enabled: false}
"""


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _strategy_of(db: str, study: str) -> str:
    with SQLiteStore(db, readonly=True) as store:
        info = store.get_study(study)
        assert info is not None
        return str(info.config["strategy"])


# --------------------------------------------------------------------------- executors
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "inline"),
        ({"workers": 2}, "pool"),
        ({"workers": "auto"}, "pool"),
        ({"time_limit": 30}, "pool"),
        ({"memory_limit_mb": 500}, "pool"),
        ({"executor": "inline"}, "inline"),
        ({"executor": "ray", "address": "auto"}, "ray"),
    ],
)
def test_default_executor_is_inline_unless_workers_or_limits_ask_for_processes(
    extra: dict[str, Any], expected: str
) -> None:
    assert executor_name(parse_config({"data": {"name": "digits"}, **extra})) == expected


def test_search_runs_trials_in_a_process_pool(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import metanas.execution as execution

    made: list[tuple[Any, ...]] = []
    real = execution.make_executor

    def spy(name: str, workers: int | None = None, address: str | None = None, **kw: Any) -> Any:
        ex = real(name, workers, address, **kw)
        made.append((name, workers, address, kw, ex))
        return ex

    monkeypatch.setattr(execution, "make_executor", spy)
    rc, out, err = _run(
        capsys, "search", "tiny.yaml", "--storage", "s.db", "--executor", "pool",
        "--workers", "2", "-q",
    )  # fmt: skip
    assert rc == 0, err
    ((name, workers, address, kw, ex),) = made
    assert (name, workers, address) == ("pool", 2, None)
    assert kw == {"threads_per_worker": 1}  # training.num_threads reaches every worker
    assert ex._pool == []  # shut down after the search: no worker process left behind
    trials = load_study("s.db", "past").trials
    assert len(trials) == 2 and all(t.value is not None and 0 <= t.value <= 1 for t in trials)
    assert "best architecture: mlp" in out


def test_config_executor_keys_reach_make_executor(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import metanas.execution as execution

    seen: dict[str, Any] = {}

    def fake(name: str, workers: int | None = None, address: str | None = None, **kw: Any) -> Any:
        seen.update(name=name, workers=workers, address=address, **kw)
        raise execution.UserInputError("stop here.")

    monkeypatch.setattr(execution, "make_executor", fake)
    (tiny / "lim.yaml").write_text(
        TINY + "workers: auto\ntime_limit: 60\nmemory_limit_mb: 900\nmax_retries: 0\n"
    )
    rc, _, err = _run(capsys, "search", "lim.yaml", "--storage", "s.db", "-q")
    assert rc == 2 and "stop here." in err
    assert seen == {
        "name": "pool", "workers": None, "address": None, "time_limit": 60.0,
        "memory_limit_mb": 900.0, "max_retries": 0, "threads_per_worker": 1,
    }  # fmt: skip
    assert not (tiny / "s.db").exists()  # refused before any store was opened


def _ray_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` now raises ImportError


@pytest.mark.parametrize(
    ("argv", "extra_yaml", "fragment", "no_ray"),
    [
        (["--executor", "ray"], "", "Ray is not installed", True),
        (["--executor", "pool", "--address", "10.0.0.1:6379"], "", "add --executor ray", False),
        (["--executor", "gpu"], "", "config field 'executor' must be", False),
        (["--workers", "0"], "", "--workers must be a positive integer or auto", False),
        (["--workers", "two"], "", "--workers must be a positive integer or auto", False),
        (["--executor", "inline", "--workers", "2"], "", "runs one trial at a time", False),
        (["--executor", "inline"], "time_limit: 5\n", "need a separate process", False),
        ([], "workers: 0\n", "config field 'workers' must be a positive integer or 'auto'", False),
        (["--warm-start-from", "missing.db"], "", "no store at", False),
    ],
)
def test_executor_and_warm_start_errors_exit_2_with_one_sentence(
    tiny: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    extra_yaml: str,
    fragment: str,
    no_ray: bool,
) -> None:
    if no_ray:
        _ray_missing(monkeypatch)
    (tiny / "c.yaml").write_text(TINY + extra_yaml)
    rc, out, err = _run(capsys, "search", "c.yaml", "--storage", "s.db", "-q", *argv)
    assert rc == 2, out + err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("not an address", "is not HOST:PORT"),
        ("10.0.0.1:70000", "is not HOST:PORT"),
        ("127.0.0.1:1", "cannot reach a Ray cluster at '127.0.0.1:1'"),  # refused at once
    ],
)
def test_bad_ray_address_exits_2_at_once(
    tiny: Path, capsys: pytest.CaptureFixture[str], address: str, fragment: str
) -> None:
    pytest.importorskip("ray")
    rc, out, err = _run(
        capsys, "search", "tiny.yaml", "--storage", "s.db", "-q", "--executor", "ray",
        "--address", address,
    )  # fmt: skip
    assert rc == 2, out + err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert fragment in line
    assert not (tiny / "s.db").exists()


# --------------------------------------------------------------------------- warm start: search
def test_search_warm_start_from_own_store_begins_with_the_past_best(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "search", "tiny.yaml", "--storage", "s.db", "--n-trials", "4", "-q")[0] == 0
    past = load_study("s.db", "past")
    assert past.best_trial is not None
    rc, _, err = _run(
        capsys, "search", "tiny.yaml", "--storage", "s.db", "--study", "new", "--warm-start"
    )
    assert rc == 0, err
    assert "warm-started from 1 earlier task(s)" in err
    assert _strategy_of("s.db", "new") == "warm_start"
    new = sorted(load_study("s.db", "new").trials, key=lambda t: t.number)
    assert new[0].key == past.best_trial.key  # the warm start proposes the past best first

    # the same from another store, by path, and through the config key
    (tiny / "w.yaml").write_text(
        TINY.replace("study: past", "study: cfgwarm") + "warm_start: s.db\n"
    )
    assert _run(capsys, "search", "w.yaml", "--storage", "other.db", "-q")[0] == 0
    assert _strategy_of("other.db", "cfgwarm") == "warm_start"
    rc, _, err = _run(
        capsys, "search", "tiny.yaml", "--storage", "third.db", "--warm-start-from", "s.db", "-q"
    )
    assert rc == 0, err
    assert _strategy_of("third.db", "past") == "warm_start"


def test_search_warm_start_without_past_is_cold_and_says_so(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _run(capsys, "search", "tiny.yaml", "--storage", "s.db", "--warm-start")
    assert rc == 0, err
    assert "cold: no earlier study of this space" in err
    assert _strategy_of("s.db", "past") == "random"


# --------------------------------------------------------------------------- warm start: bench
@pytest.fixture(scope="module")
def c100_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A store with one random search of 40 cells on NB201 CIFAR-100; its best cell's key."""
    from metanas.benchrun import default_space
    from metanas.evaluation.tabular import nb201_table
    from metanas.study import create_study

    db = str(tmp_path_factory.mktemp("warm") / "c100.db")
    ev = nb201_table("cifar100")
    st = create_study(default_space(ev), "random", ev, storage=db, study_name="c100", seed=7)
    st.optimize(40)
    best = st.best_trial
    assert best is not None
    st.store.close()
    return db, best.key


def test_bench_warm_start_runs_begin_with_the_stored_best(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, c100_store: tuple[str, str]
) -> None:
    db, best_key = c100_store
    out = tmp_path / "w.json"
    rc, _, err = _run(
        capsys, "bench", "nb201", "--strategy", "local_search,random", "--queries", "12",
        "--seeds", "2", "--warm-start", db, "--json", str(out),
    )  # fmt: skip
    assert rc == 0, err
    assert "1 earlier task(s)" in err
    data = json.loads(out.read_text())
    assert data["warm_start"] == db
    runs = data["runs"]
    for name in ("local_search", "random"):
        assert [r["keys"][0] for r in runs[name]] == [best_key, best_key]
        assert all(len(r["keys"]) == 12 for r in runs[name])


def test_bench_warm_start_through_the_study_loop(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, c100_store: tuple[str, str]
) -> None:
    db, best_key = c100_store
    rec = tmp_path / "rec.db"
    rc, _, err = _run(
        capsys, "bench", "nb201", "--strategy", "evolution", "--queries", "6", "--seeds", "1",
        "--warm-start", db, "--storage", str(rec),
    )  # fmt: skip
    assert rc == 0, err
    study = "bench-nb201-cifar10-evolution-warm-s0-q6"
    assert _strategy_of(str(rec), study) == "warm_start"
    first = min(load_study(str(rec), study).trials, key=lambda t: t.number)
    assert first.key == best_key


def test_bench_warm_start_from_a_store_of_another_space_is_cold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.space import IntRange, Space
    from metanas.study import create_study

    db = str(tmp_path / "other.db")
    st = create_study(Space([IntRange("w", 0, 9)]), "random",
                      FunctionEvaluator(lambda a: float(a["w"])), storage=db, study_name="toy")  # fmt: skip
    st.optimize(5)
    st.store.close()
    paths, errs = {}, {}
    for tag, extra in (("warm", ["--warm-start", db]), ("cold", [])):
        paths[tag] = tmp_path / f"{tag}.json"
        rc, _, err = _run(
            capsys, "bench", "nb201", "--strategy", "evolution", "--queries", "10", "--seeds", "2",
            "--json", str(paths[tag]), *extra,
        )  # fmt: skip
        assert rc == 0, err
        errs[tag] = err
    assert "holds no study of this space" in errs["warm"]
    warm, cold = (json.loads(paths[t].read_text())["runs"] for t in ("warm", "cold"))
    assert warm == cold


def test_run_bench_factory_is_called_per_strategy_and_seed() -> None:
    from metanas.benchrun import default_space, run_bench
    from metanas.evaluation.tabular import nb201_table
    from metanas.strategies import get_strategy

    ev = nb201_table("cifar10")
    space = default_space(ev)
    calls: list[tuple[str, int, dict[str, Any]]] = []

    def make(name: str, seed: int, options: Any) -> Any:
        calls.append((name, seed, dict(options)))
        return get_strategy(name, space, seed=seed, **options)

    opts = {"evolution": {"population_size": 4, "sample_size": 2}}
    res = run_bench(ev, space, ["random", "evolution"], [0, 1], 5, factory=make, options=opts)
    pop = {"population_size": 4, "sample_size": 2}
    assert calls == [
        ("random", 0, {}),
        ("random", 1, {}),
        ("evolution", 0, pop),
        ("evolution", 1, pop),
    ]
    plain = run_bench(ev, space, ["random", "evolution"], [0, 1], 5, options=opts)
    assert res.to_json()["runs"] == plain.to_json()["runs"]


def test_warm_factory_hands_the_options_to_the_cold_strategy(
    tmp_path: Path, c100_store: tuple[str, str]
) -> None:
    # metanas bench --warm-start used to drop them, so budgeted strategies ran on their own
    # rungs instead of the table's fidelities
    from metanas.benchrun import default_space, table_budgets
    from metanas.evaluation.tabular import nb101_table, nb201_table
    from metanas.meta.hook import warm_factory

    ev = nb201_table("cifar100")
    warm = warm_factory(c100_store[0], default_space(ev), ev)("asha", 0, {"eta": 2})
    assert warm.name == "warm_start" and warm.inner_kwargs == {"eta": 2}
    nb101 = nb101_table()
    budgets = table_budgets(nb101, "asha", None)
    cold = warm_factory(c100_store[0], default_space(nb101), nb101)("asha", 0, budgets)
    assert cold.name == "asha" and cold.budgets == [4.0, 12.0, 36.0, 108.0]


@pytest.mark.parametrize("how, code", [("ctrl-c", 130), ("sigterm", 143)])
def test_ctrl_c_during_a_search_says_what_is_kept_and_how_to_resume(tiny, capsys, monkeypatch,
                                                                     how, code):  # fmt: skip
    """SIGTERM ends a command with 143 (128 + 15, as shells report it), Ctrl-C with 130."""
    from metanas.cli import Terminated
    from metanas.study import Study

    real = Study.optimize

    def one_then_interrupt(self, n_trials, **kw):
        real(self, 1, **kw)
        raise KeyboardInterrupt if how == "ctrl-c" else Terminated

    monkeypatch.setattr(Study, "optimize", one_then_interrupt)
    rc, _, err = _run(capsys, "search", "tiny.yaml", "--storage", "s.db", "-q")
    assert rc == code
    assert "the 1 finished trials of study 'past' are kept in s.db" in err
    assert "rerun with --resume" in err and "Traceback" not in err
    monkeypatch.setattr(Study, "optimize", real)
    rc, _, err = _run(capsys, "search", "tiny.yaml", "--storage", "s.db", "-q", "--resume")
    assert rc == 0, err
    assert [t.state for t in load_study("s.db", "past").trials].count("complete") == 2


def test_a_study_another_process_optimizes_is_refused_before_the_header(tiny, capsys):
    import os
    import socket
    import sqlite3
    import time

    assert _run(capsys, "search", "tiny.yaml", "--storage", "s.db", "-q")[0] == 0
    with SQLiteStore("s.db") as store:
        info = store.get_study("past")
        assert info is not None
        study_id = info.id
    con = sqlite3.connect("s.db")  # a live process (our parent) holds the study
    host, pid = socket.gethostname(), os.getppid()
    con.execute("INSERT INTO locks VALUES (?, ?, ?, ?, ?)",
                (study_id, f"{host}:{pid}", host, pid, time.time()))  # fmt: skip
    con.commit()
    con.close()
    rc, _, err = _run(
        capsys, "search", "tiny.yaml", "--storage", "s.db", "--resume", "--n-trials", "3"
    )
    assert rc == 2
    assert f"being optimized by process {pid}" in err
    assert "search of" not in err  # no header for a search that does not run
    assert len(load_study("s.db", "past").trials) == 2


def test_a_resume_with_another_seed_strategy_or_option_is_refused(tiny, capsys):
    assert _run(capsys, "search", "tiny.yaml", "--storage", "s.db", "-q")[0] == 0
    before = [(t.number, t.value) for t in load_study("s.db", "past").trials]
    for old, new, says in [
        ("seed: 0", "seed: 3", "was created with seed 0, not 3; set seed: 0 to resume it"),
        ("{name: random}", "{name: evolution}", "created with strategy 'random', not 'evolution'"),
        ("{name: random}", "{name: random, params: {bogus: 1}}", "'random' has no option 'bogus'"),
        ("{name: digits,", "{name: mnist_5k,", "was searched on 'digits' (image, inputs 1x8x8"),
    ]:
        Path("other.yaml").write_text(TINY.replace(old, new))
        rc, _, err = _run(capsys, "search", "other.yaml", "--storage", "s.db", "--study", "past",
                          "--resume", "--n-trials", "3")  # fmt: skip
        assert rc == 2 and says in err, err
    assert [(t.number, t.value) for t in load_study("s.db", "past").trials] == before


def test_sigterm_in_any_command_exits_143(tmp_path, capsys, monkeypatch):
    """typer turns an interrupt a command does not catch into 130, whatever its kind."""
    import os
    import signal
    import threading
    import time

    monkeypatch.setattr("metanas.study.load_study", lambda *a, **k: time.sleep(10))
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    rc, _, err = _run(capsys, "analyze", str(tmp_path / "s.db"), "--study", "s")
    assert rc == 143 and "interrupted" in err, err


def test_an_interrupted_final_training_names_export(tiny, capsys, monkeypatch):
    from metanas.cli import search as search_cli

    assert _run(capsys, "search", "tiny.yaml", "--storage", "s.db", "-q")[0] == 0

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_cli, "finalize", interrupted)
    Path("final.yaml").write_text(TINY.replace("final: {enabled: false}", "final: {epochs: 1}"))
    rc, _, err = _run(capsys, "search", "final.yaml", "--storage", "s.db", "-q", "--resume")
    assert rc == 130, err
    assert "interrupted in the final training" in err and "metanas export final.yaml" in err


def test_sigterm_ends_a_command_as_ctrl_c_does():
    import os
    import signal
    import time

    from metanas.cli import _term_as_interrupt

    def before(signum, frame):  # a handler of our own, to see that exactly it comes back
        raise AssertionError("SIGTERM reached the handler that was there before")

    original = signal.signal(signal.SIGTERM, before)
    try:
        restore = _term_as_interrupt()
        assert signal.getsignal(signal.SIGTERM) is not before
        try:
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises at the next bytecode
        finally:
            restore()
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.mark.parametrize(
    "old, new, says",
    [
        ("training: {", "training: {device: 'cuda:99', ", "device 'cuda:99' is not on this machine"),
        ("space: {name: mlp, params: {max_depth: 2, widths: [8, 32], activations: [relu, tanh], "
         "dropouts: [0.0]}}", "space: {name: rnn_text}",
         "the rnn_text space's networks cannot take the data set 'digits': rnn_text models take"),
    ],
)  # fmt: skip
def test_a_config_every_trial_would_fail_on_is_refused_before_the_store(
    tiny, capsys, old, new, says
):
    Path("bad.yaml").write_text(TINY.replace(old, new))
    rc, _, err = _run(capsys, "search", "bad.yaml", "--storage", "s.db")
    assert rc == 2 and says in err, err
    assert not Path("s.db").exists()


def test_a_ray_cluster_that_is_not_there_leaves_no_study(tiny, capsys, monkeypatch):
    # Ray connects when the executor is made, before the study is stored: the same command can
    # run again once the cluster is up (before, it found its study created and asked for --resume)
    from metanas.execution.ray import RayExecutor
    from metanas.types import UserInputError

    def no_cluster(self: Any) -> Any:
        raise UserInputError(f"cannot reach a Ray cluster at {self.address!r} (none running)")

    monkeypatch.setattr(RayExecutor, "_start", no_cluster)
    args = ["search", "tiny.yaml", "--storage", "s.db", "--executor", "ray", "--address", "auto"]
    rc, _, err = _run(capsys, *args)
    assert rc == 2 and "cannot reach a Ray cluster at 'auto'" in err, err
    assert not Path("s.db").exists()


def test_version(capsys) -> None:
    import metanas
    from metanas.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"metanas {metanas.__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "a" * 300 + ".yaml"],
        ["studies", "a" * 300 + ".db"],
        ["search", "c.yaml", "-q", "--storage", "a" * 300 + ".db"],
        ["bench", "nb201", "-n", "5", "-k", "1", "--json", "/proc/x.json"],
    ],
)
def test_a_path_the_system_refuses_is_one_sentence(tiny, capsys, argv) -> None:
    """A name past 255 bytes was an OSError traceback in 9 places; a --json file the probe
    said was writable (as root, under /proc) was written only after the whole benchmark."""
    (tiny / "c.yaml").write_text(TINY)
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and "Traceback" not in err, err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert "too long" in line or "cannot write --json" in line
    assert "| random" not in out  # refused before the benchmark ran


@pytest.mark.parametrize(
    ("argv", "yaml"),
    [
        (["search", "c.yaml", "-q", "--storage", "s.db"],
         TINY.replace("widths: [8, 32]", "widths: [100000000000]")),
        (["proxies", "--n", "1", "--C", "100000", "--N", "1", "--proxies", "params"], TINY),
    ],
)  # fmt: skip
def test_networks_too_big_for_memory_are_one_sentence(tiny, capsys, argv, yaml) -> None:
    """torch's allocation error was a RuntimeError traceback (exit 1)."""
    (tiny / "c.yaml").write_text(yaml)
    rc, _, err = _run(capsys, *argv)
    assert rc == 2 and "Traceback" not in err, err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert "memory" in line and "GB" in line, line
    assert not (tiny / "s.db").exists()  # refused before the store
