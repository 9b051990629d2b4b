"""Hostile and broken input, through the CLI and the Python API: each case is refused with one
sentence naming the problem and the fix (exit code 2, no traceback, a typed exception), and
nothing already stored changes."""

from __future__ import annotations

import ast
import os
import sqlite3

import numpy as np
import pytest

from metanas.cli import main
from metanas.evaluation.function import FunctionEvaluator
from metanas.space import Choice, Condition, FloatRange, IntRange, Space
from metanas.storage.sqlite import SQLiteStore
from metanas.strategies.random import RandomSearch
from metanas.study import create_study, load_study
from metanas.types import MetanasError, StorageError, UserInputError

BASE = """\
study: tiny
space: {name: macro, params: {max_depth: 2, widths: [16], units: [conv3x3, maxpool3x3]}}
strategy: {name: random}
data: {name: digits, limit: 200}
training: {epochs: 1, num_threads: 1}
budget: {n_trials: 1}
final: {epochs: 1, formats: [state_dict]}
"""
TABLE = "arch,acc\n|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|,0.5\n"


def _edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


# (id, config text or None, argv after the command, a fragment of the expected sentence)
SEARCH_CASES = [
    ("malformed_yaml", "study: x\ndata: {name: digits\n  limit: [\n", [], "not valid YAML at line"),
    ("unknown_key", BASE + "foo: 1\n", [], "'foo' is not a known setting"),
    (
        "misspelt_section_key",
        _edit("epochs: 1,", "epoch: 1,"),
        [],
        "'training.epoch' is not a known",
    ),
    (
        "unknown_strategy",
        _edit("name: random", "name: annealing"),
        [],
        "unknown strategy 'annealing'",
    ),
    (
        "bad_strategy_option",
        _edit("{name: random}", "{name: random, params: {colour: 1}}"),
        [],
        "bad option for strategy 'random'",
    ),
    (
        "tta_on_text",
        "study: t\nspace: {name: rnn_text}\nstrategy: {name: random}\n"
        "data: {name: rotten_tomatoes, limit: 100}\ntraining: {epochs: 1}\n"
        "budget: {n_trials: 1}\nfinal: {epochs: 1, tta: true}\n",
        [],
        "needs image data, and 'rotten_tomatoes' is not images; set final.tta: false",
    ),
    ("unknown_space", _edit("name: macro", "name: nb999"), [], "unknown space 'nb999'"),
    (
        "empty_space",
        _edit("units: [conv3x3, maxpool3x3]", "units: []"),
        [],
        "units must be a non-empty list, got []",
    ),
    ("zero_depth", _edit("max_depth: 2", "max_depth: 0"), [], "max_depth must be a positive"),
    ("negative_budget", _edit("n_trials: 1", "n_trials: -3"), [], "must be a positive integer"),
    ("zero_budget", _edit("n_trials: 1", "n_trials: 0"), [], "must be a positive integer"),
    (
        "negative_timeout",
        _edit("n_trials: 1}", "n_trials: 1, timeout_minutes: -1}"),
        [],
        "timeout_minutes' must be positive",
    ),
    ("zero_epochs", _edit("epochs: 1,", "epochs: 0,"), [], "'training.epochs' must be positive"),
    (
        "contradictory_split",
        _edit("limit: 200", "limit: 200, val_fraction: 1.5"),
        [],
        "'data.val_fraction' must be < 1",
    ),
    ("unknown_dataset", _edit("name: digits", "name: imagenet"), [], "unknown data set 'imagenet'"),
    (
        "unknown_dataset_new_store",
        _edit("name: digits", "name: imagenet"),
        ["--storage", "new.db"],
        "unknown data set 'imagenet'",
    ),
    ("space_param_typo", _edit("widths: [16]", "width: [16]"), [], "has no parameter 'width'"),
    (
        "space_param_type",
        _edit("widths: [16]", "widths: 16"),
        [],
        "widths must be a non-empty list, got 16",
    ),
    (
        "model_option_typo",
        _edit("num_threads: 1}", "num_threads: 1, model_options: {stem_channel: 8}}"),
        [],
        "unknown option(s) ['stem_channel']",
    ),
    (
        "proxy_prescreen_in_a_config",
        _edit("name: random", "name: proxy_prescreen"),
        [],
        "in a config, screen a strategy's samples with strategy.screen",
    ),
    (
        "model_option_type",  # a TypeError from inside torch before
        _edit("num_threads: 1}", "num_threads: 1, model_options: {stem_channels: 8.0}}"),
        [],
        "option 'stem_channels' of 'macro' models must be an integer, got 8.0",
    ),
    (
        "data_option_typo",
        _edit("limit: 200", "limit: 200, options: {max_len: 5}"),
        [],
        "does not take these options",
    ),
    ("wrong_type", _edit("n_trials: 1", "n_trials: many"), [], "must be an integer"),
    ("bad_optimizer", _edit("epochs: 1,", "epochs: 1, optimizer: rmsprop,"), [], "optimizer'"),
    ("bad_export_format", _edit("[state_dict]", "[pickle]"), [], "final.formats"),
    ("top_level_list", "- a\n- b\n", [], "must be a YAML mapping"),
    ("empty_file", "", [], "must be a YAML mapping"),
    ("missing_config", None, [], "neither a file nor a shipped config"),
    ("path_study_name", _edit("study: tiny", "study: ../../etc/passwd"), [], "is not allowed"),
    ("path_study_flag", BASE, ["--study", "a/b"], "study name 'a/b' is not allowed"),
    ("zero_trials_flag", BASE, ["--n-trials", "0"], "--n-trials"),
    (
        "existing_study",
        _edit("study: tiny", "study: keep"),
        [],
        "add --resume to continue it, or name a new one with --study",
    ),
    ("unwritable_out", BASE, ["--out", "/proc/metanas-x/model"], "pass --out with a writable"),
    ("out_is_a_file", BASE, ["--out", "t.csv"], "pass --out with a writable"),
    ("negative_seed", _edit("study: tiny", "study: tiny\nseed: -1"), [], "'seed' must be >= 0"),
    ("infinite_lr", _edit("epochs: 1,", "epochs: 1, lr: .inf,"), [], "must be a finite number"),
    ("nan_epochs", _edit("epochs: 1,", "epochs: .nan,"), [], "must be a finite number"),
    ("duplicate_key", BASE + "study: again\n", [], "the key 'study' is given twice"),
    (
        "duplicate_nested_key",
        _edit("epochs: 1,", "epochs: 1, epochs: 2,"),
        [],
        "the key 'epochs' is given twice",
    ),
    (
        "bad_start_from_item",
        _edit("{name: random}", "{name: random, start_from: [5]}"),
        [],
        "'strategy.start_from.0' must be an architecture",
    ),
    ("study_is_a_number", _edit("study: tiny", "study: 123"), [], "'study' must be a non-empty"),
    ("formats_not_list", _edit("[state_dict]", "state_dict"), [], "'final.formats' must be a list"),
    (
        "empty_export_dir",
        _edit("[state_dict]", "[state_dict], export_dir: ''"),
        [],
        "'final.export_dir' must be a non-empty",
    ),
    ("empty_study_flag", BASE, ["--study", ""], "study name '' is not allowed"),
    ("empty_storage_flag", BASE, ["--storage", ""], "storage path is empty"),
    # a validation split of one example: best val_acc 0.0, exit 0
    (
        "one_validation_example",
        _edit("limit: 200", "limit: 200, val_fraction: 0.0001"),
        [],
        "leaves the validation split 1 of",
    ),
    # a "billion laughs": nine levels of ten aliases took 17 GB before any check ran
    (
        "alias_bomb",
        BASE
        + "extra:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)),
        [],
        "expands to more than 100,000 values",
    ),
    # 100,000 threads: a segfault in proxies, a failed trial in search
    ("too_many_threads", _edit("num_threads: 1", "num_threads: 100000"), [], "must be <= 1024"),
    (
        "mlp_options",
        _edit(
            "space: {name: macro, params: {max_depth: 2, widths: [16], units: [conv3x3, maxpool3x3]}}",
            "space: {name: mlp}",
        ).replace("num_threads: 1}", "num_threads: 1, model_options: {foo: 1}}"),
        [],
        "'mlp' models take no options; remove ['foo']",
    ),
    ("storage_in_memory", BASE, ["--storage", ":memory:"], "keeps nothing once the search ends"),
    (
        "out_without_final",
        _edit("final: {epochs: 1, formats: [state_dict]}", "final: {enabled: false}"),
        ["--out", "model"],
        "--out names the folder of the final model",
    ),
]

OTHER_CASES = [
    ("store_is_text", ["studies", "{d}/c.yaml"], "not an SQLite file"),
    ("store_missing", ["studies", "{d}/nothere.db"], "no store at"),
    ("store_study_missing", ["studies", "{d}/s.db", "--study", "nope"], "no study 'nope'"),
    (
        "bench_missing_column",
        ["bench", "table", "--csv", "{d}/t.csv", "--objective", "val_acc"],
        "has no column 'val_acc'",
    ),
    (
        "bench_missing_csv",
        ["bench", "table", "--csv", "{d}/no.csv", "--objective", "acc"],
        "does not exist",
    ),
    (
        "bench_missing_arch_col",
        [
            "bench",
            "table",
            "--csv",
            "{d}/t.csv",
            "--objective",
            "acc",
            "--arch-column",
            "architecture",
        ],
        "no column 'architecture'",
    ),
    (
        "bench_yaml_as_csv",
        ["bench", "table", "--csv", "{d}/c.yaml", "--objective", "acc"],
        "fix the CSV",
    ),
    (
        "bench_bad_space",
        ["bench", "table", "--csv", "{d}/t.csv", "--objective", "acc", "--space", "nb999"],
        "not 'nb999'",
    ),
    (
        "bench_negative_queries",
        ["bench", "table", "--csv", "{d}/t.csv", "--objective", "acc", "--queries", "-5"],
        "--queries must be at least 1",
    ),
    (
        "bench_zero_seeds",
        ["bench", "table", "--csv", "{d}/t.csv", "--objective", "acc", "--seeds", "0"],
        "--seeds must be at least 1",
    ),
    ("bench_huge_seeds", ["bench", "nb201", "--seeds", "1" + "0" * 20], "--seeds must be at most"),
    ("bench_unknown_strategy", ["bench", "nb201", "--strategy", "magic"], "unknown strategy"),
    ("bench_unknown_dataset", ["bench", "nb201", "--dataset", "imagenet"], "cifar10 or cifar100"),
    (
        "bench_unwritable_json",
        [
            "bench",
            "table",
            "--csv",
            "{d}/t.csv",
            "--objective",
            "acc",
            "--json",
            "/proc/metanas-x/out.json",
        ],
        "give a writable file path",
    ),
    ("storage_is_dir", ["search", "{d}/c.yaml", "--storage", "{d}"], "is a directory"),
    (
        "storage_uncreatable",
        ["search", "{d}/c.yaml", "--storage", "/proc/s.db"],
        "choose a writable location",
    ),
    ("storage_no_parent", ["search", "{d}/c.yaml", "--storage", "{d}/no/s.db"], "does not exist"),
    ("storage_bad_url", ["search", "{d}/c.yaml", "--storage", "sqlite://x.db"], "malformed"),
    (
        "storage_foreign_sqlite",
        ["search", "{d}/c.yaml", "--storage", "{d}/foreign.db"],
        "another program",
    ),
    ("storage_newer", ["search", "{d}/c.yaml", "--storage", "{d}/newer.db"], "newer metanas"),
    ("unknown_command", ["frobnicate"], "No such command"),
    ("store_as_config_search", ["search", "{d}/s.db"], "is not a text file in UTF-8"),
    ("store_as_config_export", ["export", "{d}/s.db", "--study", "keep"], "saved as UTF-8"),
    (
        "proxies_dataset_without_table",
        ["proxies", "--n", "1", "--dataset", "cifar100"],
        "add --table nb201",
    ),
    (
        "two_warm_starts",
        [
            "search",
            "{d}/c.yaml",
            "--storage",
            "{d}/s.db",
            "--warm-start",
            "--warm-start-from",
            "{d}/s.db",
        ],
        "give one",
    ),
    (
        "bench_csv_is_a_folder",
        ["bench", "table", "--csv", "{d}", "--objective", "acc"],
        "is a folder",
    ),
    ("store_empty_path", ["studies", ""], "storage path is empty"),
    (
        "search_empty_out",
        ["search", "{d}/c.yaml", "--storage", "{d}/s.db", "--out", ""],
        "--out is empty",
    ),
    ("export_empty_storage", ["export", "{d}/c.yaml", "--storage", ""], "storage path is empty"),
    (
        "warm_start_store_missing",
        ["search", "{d}/c.yaml", "--storage", "{d}/s.db", "--warm-start-from", "{d}/none.db"],
        "warm start: no store at",
    ),
    (
        "csv_over_the_store",
        ["studies", "{d}/s.db", "--study", "keep", "--csv", "{d}/s.db"],
        "is an SQLite store that writing there would destroy",
    ),
    (
        "csv_over_the_store_s_log",  # a store's -wal holds its recent writes until a checkpoint
        ["studies", "{d}/s.db", "--study", "keep", "--csv", "{d}/s.db-wal"],
        "belongs to the SQLite store",
    ),
    (
        "bench_json_over_a_store",
        ["bench", "table", "--csv", "{d}/t.csv", "--objective", "acc", "--json", "{d}/s.db"],
        "would destroy",
    ),
    (
        "proxies_json_over_a_store",
        ["proxies", "--n", "1", "--proxies", "params", "--json", "{d}/s.db"],
        "would destroy",
    ),
    ("store_damaged_row", ["studies", "{d}/damaged.db"], "damaged row of study 'x'"),
    (
        "store_damaged_trial",
        ["studies", "{d}/badtrial.db", "--study", "keep"],
        "damaged row of trial 2",
    ),
    ("store_damaged_version", ["kb", "{d}/badversion.db"], "damaged schema version"),
    ("store_text_value", ["studies", "{d}/textvalue.db"], "damaged row of study 'keep'"),
    ("store_text_value_trials", ["studies", "{d}/textvalue.db", "-s", "keep"], "damaged row of"),
    ("store_text_value_kb", ["kb", "{d}/textvalue.db"], "damaged row of"),
    ("store_list_arch", ["analyze", "{d}/listarch.db", "-s", "keep"], "damaged row of trial 1"),
    ("store_text_cost", ["studies", "{d}/textcost.db", "-s", "keep"], "damaged row of trial 1"),
    ("store_text_date", ["studies", "{d}/textdate.db"], "damaged row of study 'keep'"),
    (
        "export_finds_url_store",  # the store of a sqlite:/// URL exists: the study is missing
        ["export", "{d}/c.yaml", "--storage", "sqlite:///{d}/s.db", "--study", "nope"],
        "no study 'nope'",
    ),
    ("export_infinite_epochs", ["export", "{d}/c.yaml", "--epochs", "inf"], "finite number"),
    ("analyze_negative_seed", ["analyze", "{d}/s.db", "-s", "keep", "--seed", "-1"], "--seed"),
    (
        "analyze_plot_format_without_plots",
        ["analyze", "{d}/s.db", "-s", "keep", "--plot-format", "svg"],
        "--plot-format sets the format of --plots; add --plots FOLDER",
    ),
    (
        "analyze_maximize_metric_without_pareto",
        ["analyze", "{d}/s.db", "-s", "keep", "--maximize-metric"],
        "--maximize-metric applies to --pareto METRIC",
    ),
    (
        "analyze_unwritable_plots",
        ["analyze", "{d}/s.db", "-s", "keep", "--plots", "/proc/metanas-figs"],
        "figure folder",
    ),
    ("proxies_negative_seed", ["proxies", "--n", "1", "--seed", "-1"], "--seed"),
    ("proxies_negative_threads", ["proxies", "--n", "1", "--threads", "-2"], "--threads"),
    ("proxies_too_many_threads", ["proxies", "--n", "1", "--threads", "100000"], "--threads"),
    (
        "proxies_json_is_dir",
        ["proxies", "--n", "1", "--proxies", "params", "--json", "{d}"],
        "is a folder",
    ),
    # a pipe: SQLite and the writers waited for a reader for ever
    ("storage_is_a_pipe", ["search", "{d}/c.yaml", "--storage", "{d}/pipe.db"], "not a regular"),
    (
        "csv_into_a_pipe",
        ["studies", "{d}/s.db", "--study", "keep", "--csv", "{d}/pipe.db"],
        "is a pipe or socket",
    ),
    (
        "study_name_from_a_file_name",
        ["search", "{d}/we*ird.yaml", "--storage", "{d}/s.db"],
        "its file name gives 'we*ird'",
    ),
    (
        "analyze_empty_plots",
        ["analyze", "{d}/s.db", "-s", "keep", "--plots", ""],
        "--plots is empty",
    ),
    (
        "bench_header_only",
        ["bench", "table", "--csv", "{d}/h.csv", "--objective", "acc"],
        "has no row with a number",
    ),
    (
        "bench_not_utf8",
        ["bench", "table", "--csv", "{d}/b.csv", "--objective", "acc"],
        "is not UTF-8 text",
    ),
    (
        "bench_not_gzip",
        ["bench", "table", "--csv", "{d}/f.csv.gz", "--objective", "acc"],
        "gzipped only if",
    ),
]


def _score(a):
    return float(a["w"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    s = create_study(Space([IntRange("w", 0, 9)]), "random", FunctionEvaluator(_score),
                     storage=d / "s.db", study_name="keep")  # fmt: skip
    s.optimize(5)
    s.store.close()
    (d / "t.csv").write_text(TABLE)
    (d / "configs").mkdir()
    (d / "c.yaml").write_text(BASE)
    (d / "we*ird.yaml").write_text(BASE.replace("study: tiny\n", ""))
    os.mkfifo(d / "pipe.db")
    con = sqlite3.connect(d / "foreign.db")
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    (d / "h.csv").write_text("arch,acc\n")
    (d / "b.csv").write_bytes(b"\xff\xfe\x00 not text")
    (d / "f.csv.gz").write_text(TABLE)
    for name, sql in [
        ("newer.db", "UPDATE meta SET value='999' WHERE key='schema_version'"),
        ("badversion.db", "UPDATE meta SET value='x' WHERE key='schema_version'"),
        ("damaged.db", "INSERT INTO studies VALUES (1, 'x', '{', '{}', '{}', 0)"),
    ]:
        SQLiteStore(d / name).close()
        con = sqlite3.connect(d / name)
        con.execute(sql)
        con.commit()
        con.close()
    for name, sql in [
        ("badtrial.db", "UPDATE trials SET arch='{' WHERE number=2"),
        # valid JSON, wrong types: each was a TypeError or ValueError traceback somewhere
        ("textvalue.db", "UPDATE trials SET value='abc' WHERE number=1"),
        ("listarch.db", "UPDATE trials SET arch='[1]' WHERE number=1"),
        ("textcost.db", "UPDATE trials SET cost='x' WHERE number=1"),
        ("textdate.db", "UPDATE studies SET created_at='yesterday'"),
    ]:
        (d / name).write_bytes((d / "s.db").read_bytes())
        con = sqlite3.connect(d / name)
        con.execute(sql)
        con.commit()
        con.close()
    return d


def _snapshot(d):
    """The store's bytes and trials, and the other files' bytes: what no refusal may change."""
    files = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file() and "-" not in p.name}
    trials = [(t.number, t.state, t.value) for t in load_study(d / "s.db", "keep").trials]
    return files, trials, sorted(p.name for p in d.iterdir() if "-" not in p.name)


def _check_refusal(capsys, argv, fragment):
    capsys.readouterr()
    rc = main(argv)
    cap = capsys.readouterr()
    text = cap.err + cap.out
    assert rc == 2, text
    assert "Traceback" not in text
    assert fragment in " ".join(text.split()), text
    lines = [ln for ln in cap.err.splitlines() if ln.startswith("error:")]
    if lines:  # a metanas error: exactly one sentence on one line
        assert len(lines) == 1 and lines[0].rstrip().endswith((".", ")"))


@pytest.mark.parametrize("case", SEARCH_CASES, ids=[c[0] for c in SEARCH_CASES])
def test_cli_search_refuses(world, capsys, monkeypatch, case):
    name, text, extra, fragment = case
    monkeypatch.chdir(world)
    cfg = world / "configs" / f"{name}.yaml"  # outside the snapshot
    if text is not None:
        cfg.write_text(text)
    before = _snapshot(world)
    try:
        _check_refusal(capsys, ["search", str(cfg), "--storage", "s.db", "-q", *extra], fragment)
    finally:
        cfg.unlink(missing_ok=True)
    after = _snapshot(world)
    assert after == before


@pytest.mark.parametrize("case", OTHER_CASES, ids=[c[0] for c in OTHER_CASES])
def test_cli_other_commands_refuse(world, capsys, monkeypatch, case):
    _, argv, fragment = case
    monkeypatch.chdir(world)
    before = _snapshot(world)
    _check_refusal(capsys, [a.format(d=world) for a in argv], fragment)
    assert _snapshot(world) == before


# --------------------------------------------------------------------------- the Python API
SPACE = Space([IntRange("w", 0, 9)])


def _api_cases(d):
    from metanas.data.user import from_arrays, from_csv
    from metanas.evaluation.proxies.evaluator import ProxyEvaluator
    from metanas.evaluation.tabular import nb101_table, nb201_table
    from metanas.evaluation.training import TrainingEvaluator
    from metanas.execution import make_executor
    from metanas.space import get_space

    x = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    (d / "nolabel.csv").write_text("a,b\n1,2\n3,4\n")
    ev = FunctionEvaluator(_score)
    return [
        ("csv_missing", lambda: from_csv(d / "none.csv", "label"), "does not exist"),
        ("csv_no_column", lambda: from_csv(d / "nolabel.csv", "label"), "has no column 'label'"),
        ("x_wrong_shape", lambda: from_arrays(x[:10], y), None),
        ("labels_one_class", lambda: from_arrays(x, np.zeros(20, int)), "single class"),
        ("labels_not_classes", lambda: from_arrays(x, y, x_test=x, y_test=y + 5), "remap"),
        ("x_nan", lambda: from_arrays(np.full((20, 3), np.nan), y), "NaN"),
        ("empty_space", lambda: Space([]), "no dimensions"),
        ("unknown_dataset", lambda: TrainingEvaluator("imagenet", "macro"), "unknown data set"),
        (
            "model_option_typo",
            lambda: TrainingEvaluator("digits", "macro", model_options={"stem_channel": 8}),
            "unknown option(s) ['stem_channel']",
        ),
        (
            "model_option_type",
            lambda: TrainingEvaluator("digits", "nb201", model_options={"C": "8"}),
            "option 'C' of 'nb201' models must be an integer, got '8'",
        ),
        ("choice_of_a_set", lambda: Choice("op", {"a", "b"}), "as a set"),
        ("space_param_typo", lambda: get_space("macro", width=[8]), "has no parameter 'width'"),
        ("low_above_high", lambda: IntRange("a", 5, 1), "swap them"),
        ("empty_choice", lambda: Choice("a", []), "no options"),
        ("unknown_strategy", lambda: create_study(SPACE, "magic", ev), "unknown strategy"),
        ("bad_direction", lambda: create_study(SPACE, "random", ev, direction="up"), "direction"),
        ("negative_trials", lambda: create_study(SPACE, "random", ev).optimize(-1), "n_trials"),
        (
            "zero_timeout",
            lambda: create_study(SPACE, "random", ev).optimize(3, timeout=0),
            "timeout",
        ),
        (
            "path_name",
            lambda: create_study(SPACE, "random", ev, study_name="a/../b"),
            "not allowed",
        ),
        (
            "existing_study",
            lambda: create_study(SPACE, "random", ev, storage=d / "s.db", study_name="keep"),
            "already exists",
        ),
        (
            "other_space_on_resume",
            lambda: create_study(
                Space([IntRange("w", 0, 3)]),
                "random",
                ev,
                storage=d / "s.db",
                study_name="keep",
                resume=True,
            ),
            "differs",
        ),
        ("load_missing_study", lambda: load_study(d / "s.db", "nope"), "no study 'nope'"),
        (
            "foreign_store",
            lambda: create_study(SPACE, "random", ev, storage=d / "foreign.db"),
            "another program",
        ),
        (
            "newer_store",
            lambda: create_study(SPACE, "random", ev, storage=d / "newer.db"),
            "newer metanas",
        ),
        ("store_object", lambda: create_study(SPACE, "random", ev, storage=42), "not a store"),
        ("bad_executor", lambda: make_executor("gpu"), "unknown executor"),
        ("bad_workers", lambda: make_executor("pool", -2), "workers"),
        ("negative_seed", lambda: create_study(SPACE, "random", ev, seed=-1), "seed must be"),
        (
            "kwargs_not_mapping",
            lambda: create_study(SPACE, "random", ev, strategy_kwargs=[1]),
            "strategy_kwargs must be a mapping",
        ),
        ("dims_not_space", lambda: create_study([IntRange("w", 0, 9)], "random", ev), "Space(["),
        ("function_evaluator", lambda: create_study(SPACE, "random", _score), "FunctionEvaluator"),
        ("empty_storage", lambda: create_study(SPACE, "random", ev, storage=""), "path is empty"),
        ("nan_int_bound", lambda: IntRange("w", 0, float("nan")), "integer bounds"),
        ("float_int_bound", lambda: IntRange("w", 0.5, 9), "integer bounds"),
        ("text_int_bounds", lambda: IntRange("w", "0", "9"), "integer bounds"),
        ("infinite_float_bound", lambda: FloatRange("w", 0, float("inf")), "finite numbers"),
        ("choice_of_text", lambda: Choice("a", "abc"), "list of options"),
        ("choice_of_number", lambda: Choice("a", 5), "list of options"),
        ("space_of_numbers", lambda: Space([1, 2]), "as a dimension"),
        ("strategy_number", lambda: create_study(SPACE, 3, ev, storage=d / "n.db"), "got 3"),
        (
            "strategy_class",
            lambda: create_study(SPACE, RandomSearch, ev, storage=d / "n.db"),
            "got the class RandomSearch; build a class as Cls(space, seed=...)",
        ),
        (
            "n_trials_to_create_study",
            lambda: create_study(SPACE, "random", ev, storage=d / "n.db", n_trials=5),
            "unknown argument 'n_trials' (give the number of trials to optimize())",
        ),
        (
            "seed_in_strategy_kwargs",
            lambda: create_study(
                SPACE, "random", ev, storage=d / "n.db", strategy_kwargs={"seed": 1}
            ),
            "pass it as create_study's seed argument",
        ),
        (
            "executor_name",
            lambda: create_study(SPACE, "random", ev, storage=d / "n.db", executor="pool"),
            "executor must be an executor such as make_executor('pool', workers=2), got str",
        ),
        (
            "budget_number",
            lambda: create_study(SPACE, "random", ev, storage=d / "n.db", budget=5),
            "budget must be a Budget such as Budget(epochs=12), got int 5",
        ),
        (
            "other_strategy_on_resume",
            lambda: create_study(
                SPACE, "evolution", ev, storage=d / "s.db", study_name="keep", resume=True
            ),
            "was created with strategy 'random', not 'evolution'",
        ),
        (
            "unknown_activation",
            lambda: get_space("mlp", activations=["swish"]),
            "space 'mlp': activations ['swish'] are not built by metanas; choose among relu,",
        ),
        ("zero_width", lambda: get_space("mlp", widths=[0, 8]), "widths must be positive integ"),
        ("widths_text", lambda: get_space("mlp", widths="16"), "widths must be a non-empty list"),
        ("unknown_cell", lambda: get_space("rnn_text", cells=["tcn"]), "cells ['tcn'] are not"),
        ("dropout_one", lambda: get_space("mlp", dropouts=[1.0]), "dropouts must be numbers in"),
        ("proxy_typo", lambda: ProxyEvaluator("synflw"), "did you mean 'synflow'?"),
        (
            "model_kind_typo",
            lambda: TrainingEvaluator("digits", "mlpp"),
            "no model builder for space kind 'mlpp'; did you mean 'mlp'?",
        ),
        (
            "space_of_another_kind_for_the_networks",
            lambda: create_study(
                "rnn_text", "random", TrainingEvaluator("digits", "mlp"), storage=d / "n.db"
            ),
            "builds mlp networks, but the space is a rnn_text space",
        ),
        (
            "text_for_networks_of_images",
            lambda: create_study(
                "macro",
                "random",
                TrainingEvaluator("rotten_tomatoes", "macro", data_options={"limit": 100}),
                storage=d / "n.db",
            ),
            "is text (word ids), which 'macro' networks cannot read; search a space for text",
        ),
        (
            "space_of_another_kind_for_the_table",
            lambda: create_study("macro", "random", nb201_table(), storage=d / "n.db"),
            "holds nb201 architectures, not macro ones",
        ),
        (
            "space_mostly_not_in_the_table",
            lambda: create_study("nb101", "random", nb101_table(), storage=d / "n.db"),
            "search evaluator.restrict()",
        ),
        ("function_without_arch", lambda: FunctionEvaluator(lambda: 1), "takes no arguments"),
        ("function_not_callable", lambda: FunctionEvaluator(3), "needs a function fn(arch)"),
        (
            "condition_of_another_kind",
            lambda: Space(
                [Choice("u", ("a", "b")), Choice("w", (1, 2), when=Condition("u", ">=", 3))]
            ),
            "condition u >= 3 cannot compare u's value 'a'",
        ),
        (
            "macro_units_as_one_text",
            lambda: get_space("macro", units="conv3x3"),
            "units must be a non-empty list, got 'conv3x3'; e.g. ['conv3x3', 'conv5x5']",
        ),
        ("macro_zero_width", lambda: get_space("macro", widths=[0]), "widths must be positive"),
        (
            "text_cells_empty",
            lambda: get_space("rnn_text", cells=[]),
            "cells must be a non-empty list, got []; e.g. ['rnn', 'gru']",
        ),
        (
            "condition_that_never_holds",
            lambda: Space([IntRange("d", 1, 3), Choice("w", (1, 2), when=Condition("d", ">=", 5))]),
            "condition d >= 5 never holds for d's values",
        ),
        (
            "condition_beyond_a_long_unsorted_choice",  # every option is read, not its ends
            lambda: Space(
                [
                    Choice("w", (5, *range(6, 200), 3)),
                    Choice("x", (1, 2), when=Condition("w", ">", 500)),
                ]
            ),
            "condition w > 500 never holds",
        ),
        (
            "condition_beyond_a_float_range",
            lambda: Space(
                [FloatRange("lr", 0.1, 1.0), Choice("w", (1, 2), when=Condition("lr", "<", 0.01))]
            ),
            "condition lr < 0.01 never holds",
        ),
        ("in_without_list", lambda: Condition("d", "in", 3), "needs a list of values"),
        (
            "when_as_tuple",
            lambda: Space([IntRange("d", 1, 3), Choice("w", (1, 2), when=("d", ">=", 2))]),
            "give a Condition, e.g.",
        ),
        ("unstorable_option", lambda: Choice("w", (object(),)), "cannot be stored; use numbers"),
        ("huge_int_range", lambda: IntRange("d", 0, 10**30), "bounds must be below 2**62"),
        (
            "option_as_text",
            lambda: create_study(SPACE, "bananas", ev, strategy_kwargs={"patience": "3"}),
            "option 'patience' of strategy 'bananas' must be an integer, got '3'",
        ),
        *(
            (
                f"{name}_{option}_out_of_range",
                lambda name=name, option=option, value=value: create_study(
                    SPACE, name, ev, strategy_kwargs={option: value}
                ),
                words,
            )
            for name, option, value, words in (
                ("bananas", "ucb_beta", -1.0, "bananas ucb_beta must be >= 0"),
                ("bananas", "refit_every", -0.5, "bananas refit_every must be >= 0"),
                ("tpe", "prior_weight", -1.0, "tpe prior_weight must be >= 0"),
                ("mf_ucb", "ucb_beta", -1.0, "mf_ucb needs ucb_beta >= 0"),
                ("bohb", "gamma", 0.0, "bohb needs 0 < gamma < 1"),
                ("bohb", "n_candidates", 0, "n_candidates >= 1"),
                ("qlearning", "gamma", 1.5, "0 <= gamma <= 1"),
            )
        ),
        (
            "callback_not_callable",
            lambda: create_study(SPACE, "random", ev).optimize(2, callbacks=[1]),
            "callbacks must be functions cb(study, trial), got int 1",
        ),
        (
            "callback_of_one_argument",
            lambda: create_study(SPACE, "random", ev).optimize(2, callbacks=[lambda t: None]),
            "callbacks must be functions cb(study, trial), got function",
        ),
        (
            "timeout_as_text",
            lambda: create_study(SPACE, "random", ev).optimize(2, timeout="5"),
            "timeout must be positive seconds, got '5'",
        ),
        (
            "training_setting_typo",
            lambda: TrainingEvaluator("digits", "mlp", epochz=1),
            "unknown training setting(s) ['epochz']; did you mean 'epochs'?",
        ),
        (
            "warm_options_without_warm_start",
            lambda: create_study(SPACE, "random", ev, warm_options={"budget": 3}),
            "warm_options are the warm start's; pass warm_start=True",
        ),
        (
            "sample_with_a_negative_seed",
            lambda: Space([IntRange("d", 1, 3)]).sample(-1),
            "a seed must be an integer >= 0, a numpy Generator or None, got -1",
        ),
        (
            "space_one_dimension_no_list",
            lambda: Space("depth"),
            "space 'space' takes a list of dimensions, got 'depth'",
        ),
        (
            "objective_not_a_name",
            lambda: FunctionEvaluator(lambda a: 1.0, objective=123),
            "FunctionEvaluator's objective names a metric, got 123",
        ),
        (
            "warm_option_typo",
            lambda: create_study(SPACE, "random", ev, warm_start=True, warm_options={"budgett": 3}),
            "unknown warm start option(s) ['budgett']",
        ),
        (  # refused before a store file is made (the world snapshot would show a new one)
            "unknown_strategy_no_store",
            lambda: create_study(SPACE, "rnadom", ev, storage=d / "typo.db"),
            "unknown strategy",
        ),
    ]


def test_api_refuses_with_typed_errors(world):
    cases = _api_cases(world)
    assert len(cases) >= 20
    before = _snapshot(world)
    for name, fn, fragment in cases:
        with pytest.raises((UserInputError, StorageError)) as e:
            fn()
        msg = str(e.value)
        assert isinstance(e.value, MetanasError), name
        assert "\n" not in msg.strip() and msg.rstrip().endswith((".", ")")), (name, msg)
        if fragment is not None:
            assert fragment in msg, (name, msg)
    assert _snapshot(world) == before


def test_read_only_store_is_refused_without_writing(world, monkeypatch):
    before = _snapshot(world)
    # as a non-root user sees a read-only file (root ignores permission bits)
    monkeypatch.setattr("metanas.storage.sqlite.os.access", lambda path, mode: False)
    with pytest.raises(UserInputError, match="read-only; make it writable"):
        create_study(SPACE, "random", FunctionEvaluator(_score), storage=world / "s.db",
                     study_name="keep", resume=True)  # fmt: skip
    monkeypatch.undo()
    assert _snapshot(world) == before


#: modules whose loading runs arbitrary code from the bytes it reads
_UNPICKLERS = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve"}
_LOADS = {"load", "loads", "Unpickler", "load_all", "unsafe_load", "full_load"}


def _unpickling(source: str, may_import_pickle: bool = False) -> list[str]:
    """Lines of ``source`` that could unpickle: importing a pickle module at all (unless
    ``may_import_pickle``: the worker pipes of an executor), a load through any name bound to
    one, ``torch.load`` without ``weights_only=True``, ``allow_pickle=True``, ``read_pickle``,
    or a yaml load other than the safe one."""
    tree = ast.parse(source)
    mods: dict[str, str] = {}  # local name -> module it is bound to (import x as y)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                mods[(a.asname or a.name).split(".")[0]] = a.name.split(".")[0]
                if a.name.split(".")[0] in _UNPICKLERS and not may_import_pickle:
                    bad.append(f"{node.lineno}: imports {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            for a in node.names:
                if root in _UNPICKLERS and (a.name in _LOADS or not may_import_pickle):
                    bad.append(f"{node.lineno}: from {node.module} imports {a.name}")
                if root == "yaml" and a.name in _LOADS:
                    bad.append(f"{node.lineno}: from yaml imports {a.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        kw = {k.arg: k.value for k in node.keywords}
        f = node.func
        if any(k == "allow_pickle" and not (isinstance(v, ast.Constant) and v.value is False)
               for k, v in kw.items()):  # fmt: skip
            bad.append(f"{node.lineno}: allow_pickle")
        if isinstance(f, ast.Attribute) and f.attr == "read_pickle":
            bad.append(f"{node.lineno}: read_pickle")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            mod = mods.get(f.value.id, f.value.id)
            if mod in _UNPICKLERS and f.attr in _LOADS:
                bad.append(f"{node.lineno}: {f.value.id}.{f.attr}")
            if mod == "yaml" and f.attr in _LOADS:
                bad.append(f"{node.lineno}: {f.value.id}.{f.attr}")
            if mod == "torch" and f.attr == "load":
                safe = kw.get("weights_only")
                if not (isinstance(safe, ast.Constant) and safe.value is True):
                    bad.append(f"{node.lineno}: torch.load without weights_only=True")
    return bad


def test_loading_never_unpickles():
    """No pickle from a store or an exported file: no module outside the executors' worker
    pipes imports a pickle module, nothing loads through one, torch.load only with
    weights_only=True."""
    from pathlib import Path

    import metanas

    root = Path(metanas.__file__).parent
    bad = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        may = rel.parts[0] == "execution"  # jobs and results travel pickled to and from workers
        bad += [f"{rel}:{b}" for b in _unpickling(p.read_text(), may)]
    assert bad == []


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "import pickle as pk\ndef f(b):\n    return pk.loads(b)",
        "from pickle import loads as L",
        "from cloudpickle import load",
        "import joblib",
        "import dill.settings",
        "import torch\ntorch.load(p)",
        "import torch as T\nT.load(p, weights_only=False)",
        "import numpy as np\nnp.load(p, allow_pickle=True)",
        "import pandas as pd\npd.read_pickle(p)",
        "import yaml\nyaml.load(t, Loader=yaml.Loader)",
        "from yaml import unsafe_load",
    ],
)
def test_the_unpickling_check_sees_aliases(source):
    assert _unpickling(source)


def test_the_unpickling_check_allows_safe_loads():
    ok = (
        "import torch, yaml, numpy as np\n"
        "torch.load(p, map_location='cpu', weights_only=True)\n"
        "np.load(p, allow_pickle=False)\nnp.load(p)\nyaml.safe_load(t)\n"
    )
    assert _unpickling(ok) == []
    pipes = "import pickle\ntry:\n    pass\nexcept pickle.PicklingError:\n    pass\n"
    assert _unpickling(pipes, may_import_pickle=True) == []
    assert _unpickling("import pickle\npickle.loads(b)", may_import_pickle=True)
