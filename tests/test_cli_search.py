"""``metanas search`` and ``metanas export`` end to end on a tiny digits search."""

from __future__ import annotations

import json

import pytest
import torch

from metanas.cli import main

TINY = """\
study: tiny
seed: 0
space: {name: macro, params: {max_depth: 2, widths: [16], units: [conv3x3, maxpool3x3]}}
strategy: {name: random}
data: {name: digits, limit: 400}
training: {epochs: 2, batch_size: 64, lr: 0.01, num_threads: 1, model_options: {stem_channels: 8}}
budget: {n_trials: 3}
final: {epochs: 2, lr: 0.01, formats: [state_dict, onnx]}
"""


@pytest.fixture()
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    return tmp_path


def test_search_exports_a_loadable_model(tiny, capsys) -> None:
    rc = main(["search", "tiny.yaml", "--storage", "s.db", "--out", "model", "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "best architecture:" in out and "test accuracy" in out and "wall time" in out
    assert "figures in model/figures: history.png" in out  # 3 trials: too few for importance
    assert (tiny / "model" / "figures" / "history.png").read_bytes().startswith(b"\x89PNG")
    manifest = json.loads((tiny / "model" / "arch.json").read_text())
    assert manifest["study"] == "tiny" and manifest["config"]["data"]["name"] == "digits"
    assert manifest["model_options"] == {"stem_channels": 8}
    assert 0 <= manifest["metrics"]["test_acc"] <= 1 and manifest["onnx_max_abs_diff"] <= 1e-4
    from metanas.export import load_model

    model = load_model(tiny / "model")
    x = torch.rand(3, *manifest["input_shape"])
    assert tuple(model(x).shape) == (3, 10)
    # plain pixels are prepared as the training data was (the export had no statistics: a
    # model fed raw digits scored 0.15 instead of 0.93)
    from metanas.data import load_dataset
    from metanas.export import prepare_inputs

    data = load_dataset("digits")
    norm = data.meta["normalization"]
    raw = (data.x_test.numpy() * norm["std"][0] + norm["mean"][0]) * norm["scale"]
    assert torch.allclose(prepare_inputs(tiny / "model", raw), data.x_test, atol=1e-5)

    # resume with a larger budget adds trials to the same study, then `export` retrains the best
    rc = main(["search", "tiny.yaml", "--storage", "s.db", "--out", "model2", "--resume",
               "--n-trials", "4", "-q"])  # fmt: skip
    assert rc == 0
    from metanas.study import load_study

    assert len(load_study("s.db", "tiny").trials) == 4
    rc = main(["export", "tiny.yaml", "--storage", "s.db", "--out", "again", "--epochs", "1", "-q"])
    assert rc == 0
    again = json.loads((tiny / "again" / "arch.json").read_text())
    assert again["metrics"]["epochs"] == 1

    # refused before any training: a config on other data, a folder with another study's model
    (tiny / "other.yaml").write_text(TINY.replace("name: digits", "name: mnist_5k"))
    assert main(["export", "other.yaml", "--study", "tiny", "--storage", "s.db", "-q"]) == 2
    err = capsys.readouterr().err
    assert "study 'tiny' was searched on 'digits'" in err
    assert "export it with the config it was searched with" in err  # not "the new search"
    (tiny / "held").mkdir()
    (tiny / "held" / "arch.json").write_text('{"study": "fin"}')
    assert main(["export", "tiny.yaml", "--storage", "s.db", "--out", "held", "-q"]) == 2
    assert "'held' holds the model of study 'fin', not 'tiny'" in capsys.readouterr().err
    assert (tiny / "held" / "arch.json").read_text() == '{"study": "fin"}'
    assert (
        main(["search", "tiny.yaml", "--storage", "s.db", "--out", "held", "--resume", "-q"]) == 2
    )


def test_bad_config_exits_2_with_one_sentence(tiny, capsys) -> None:
    (tiny / "bad.yaml").write_text(TINY.replace("n_trials: 3", "n_trials: 0"))
    assert main(["search", "bad.yaml", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: config field 'budget.n_trials' must be a positive integer (got 0)."


def test_malformed_yaml_exits_2(tiny, capsys) -> None:
    (tiny / "broken.yaml").write_text("data:\n  name: [digits\n")
    assert main(["search", "broken.yaml", "-q"]) == 2
    assert "not valid YAML at line" in capsys.readouterr().err


def test_unknown_space_exits_2(tiny, capsys) -> None:
    (tiny / "nospace.yaml").write_text(TINY.replace("name: macro", "name: nosuch"))
    assert main(["search", "nospace.yaml", "-q"]) == 2
    assert "unknown space 'nosuch'" in capsys.readouterr().err


def test_export_without_store_exits_2(tiny, capsys) -> None:
    assert main(["export", "tiny.yaml", "--storage", "missing.db", "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_search_with_a_proxy_screen_runs_and_resumes(tiny, capsys) -> None:
    """``strategy.screen`` draws every random sample as a proxy's favourite on the task's data;
    the screened study resumes like any other, and an unknown proxy is one sentence, exit 2."""
    screened = TINY.replace(
        "strategy: {name: random}",
        "strategy: {name: random, screen: {proxy: synflow, candidates: 4, batch_size: 16}}",
    ).replace("n_trials: 3", "n_trials: 2")
    (tiny / "screened.yaml").write_text(screened)
    args = ["search", "screened.yaml", "--storage", "s.db"]
    rc = main([*args, "--out", "m1"])
    err = capsys.readouterr().err
    assert rc == 0 and "samples screened by synflow (best of 4)" in err
    from metanas.study import load_study

    first = [t.key for t in load_study("s.db", "tiny").trials]
    assert main([*args, "--out", "m2", "--resume", "--n-trials", "3", "-q"]) == 0
    assert [t.key for t in load_study("s.db", "tiny").trials][:2] == first
    capsys.readouterr()  # a budget already spent says so, rather than show a full bar
    assert main([*args, "--out", "m2", "--resume", "--n-trials", "2"]) == 0
    assert "already holds 3 finished trials: none to run" in capsys.readouterr().err

    (tiny / "bad.yaml").write_text(screened.replace("proxy: synflow", "proxy: synflw"))
    capsys.readouterr()
    assert main(["search", "bad.yaml", "--storage", "b.db", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown proxy 'synflw'" in err[0]


def test_data_options_reach_the_loader(tiny, capsys) -> None:
    # digits takes test_fraction: a larger test split leaves fewer training examples
    cfg = TINY.replace("limit: 400}", "options: {test_fraction: 0.5}}").replace(
        "final: {", "final: {enabled: false, "
    )
    (tiny / "opts.yaml").write_text(cfg.replace("study: tiny", "study: opts"))
    assert main(["search", "opts.yaml", "--storage", "s.db", "-q", "--n-trials", "1"]) == 0
    from metanas.evaluation.training import load_dataset_cached

    half = load_dataset_cached("digits", test_fraction=0.5)
    assert len(half.y_test) > len(load_dataset_cached("digits").y_test)
    (tiny / "bad.yaml").write_text(cfg.replace("test_fraction: 0.5", "nope: 1"))
    capsys.readouterr()
    assert main(["search", "bad.yaml", "--storage", "s.db", "-q", "--n-trials", "1"]) == 2
    assert "does not take these options" in capsys.readouterr().err


def test_a_text_search_screens_its_samples_with_a_proxy(tmp_path, monkeypatch):
    """The screen's networks are built like the trials' (with the data's vocabulary size) and
    scored on word ids: it ended in "cannot take the data set" before."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(
        "study: ts\nseed: 0\nspace: {name: rnn_text}\n"
        "strategy: {name: random, screen: {proxy: synflow, candidates: 5, batch_size: 8}}\n"
        "data: {name: rotten_tomatoes, limit: 200, options: {max_len: 16}}\n"
        "training: {epochs: 0.1, batch_size: 32, num_threads: 1}\n"
        "budget: {n_trials: 2}\nfinal: {enabled: false}\n"
    )
    assert main(["search", "t.yaml", "--storage", "s.db", "-q"]) == 0
    from metanas.study import load_study

    trials = load_study(tmp_path / "s.db", "ts").trials
    assert len(trials) == 2 and all(t.value is not None for t in trials)


def test_a_multi_fidelity_search_says_its_rungs_replace_training_epochs(tiny, capsys):
    (tiny / "mf.yaml").write_text(
        TINY.replace("name: random", "name: asha, params: {budgets: [0.5, 1]}").replace(
            "final: {", "final: {enabled: false, "
        )
    )
    assert main(["search", "mf.yaml", "--storage", "mf.db"]) == 0
    err = capsys.readouterr().err
    assert "training 0.5, 1 epochs by rung (not training.epochs: 2)" in err
