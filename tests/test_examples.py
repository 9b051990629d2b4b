"""Smoke tests of the seed examples with tiny budgets (``--quick``), and the benchmark's baseline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(rel: str) -> ModuleType:
    name = Path(rel).stem
    spec = importlib.util.spec_from_file_location(name, ROOT / rel)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def need_keras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip unless Keras 3 imports with the torch backend (the examples' backend)."""
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # before keras's first import picks a backend
    pytest.importorskip(
        "keras",
        reason="keras is not installed (pip install keras); the Keras seed variant needs it",
    )


@pytest.fixture(scope="module")
def seed_rnn() -> ModuleType:
    pytest.importorskip("torch")
    from metanas.data._common import DatasetUnavailable
    from metanas.data.text import rotten_tomatoes_texts

    try:
        rotten_tomatoes_texts(0)
    except DatasetUnavailable as e:
        pytest.fail(f"Rotten Tomatoes is not installed: {e}")
    return load("examples/seed_rnn.py")


def test_quick_flag_and_env_var_shrink_the_budget(
    seed_rnn: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = seed_rnn.parse_args([])
    assert (full.trials, full.epochs, full.final_epochs) == (8, 4, 4)
    quick = seed_rnn.parse_args(["--quick", "--trials", "10"])
    assert quick.quick and quick.trials == 3 and quick.epochs < 1
    monkeypatch.setenv("METANAS_QUICK", "1")
    assert seed_rnn.parse_args([]).quick
    with pytest.raises(SystemExit) as stop:  # no trial to run is bad input, not a failed search
        seed_rnn.parse_args(["--trials", "0"])
    assert stop.value.code == 2


def test_seed_rnn_searches_the_seed_grid_and_retrains_the_best(
    seed_rnn: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "seed.db"
    folder = tmp_path / "model"
    argv = ["--quick", "--threads", "1", "--storage", str(store), "--export", str(folder)]
    argv += ["--ensemble", "2"]
    out = seed_rnn.main(argv)
    assert out["trials"] == 3
    arch = out["best_arch"]
    assert arch["num_units"] in (32, 64, 128)
    assert arch["cell"] in ("rnn", "gru", "lstm", "attention") and 1 <= arch["layers"] <= 3
    assert 0.0 <= out["test_acc"] <= 1.0 and 0.0 < out["best_val_acc"] <= 1.0
    assert out["params"] > 0
    printed = capsys.readouterr().out
    assert "retrained on train+val: test_acc=" in printed and "finalist " in printed
    # the trials are stored: the same study reloads them, one trial per asked architecture
    import metanas

    study = metanas.load_study(str(store), "seed_rnn")
    assert len(study.trials) == 3
    # the pick is one of the top 3 trials, by its mean over the search run and a second seed
    assert out["best_val_acc"] in [pytest.approx(t.value) for t in study.trials]
    assert 0.0 < out["finalist_mean_val_acc"] <= 1.0
    assert len(out["ensemble"]) == 2 and out["ensemble"][0] == arch
    # ... the top of that ranking: the finalist with the highest printed mean, and the ensemble's
    # second member the next one
    import re

    finalists = [
        (float(mean), name)
        for name, mean in re.findall(
            r"^\s*finalist (.*?)\s+val_acc=\S+, \S+: mean ([0-9.]+)$", printed, re.M
        )
    ]
    assert len(finalists) == 3, printed
    finalists.sort(reverse=True)
    describe = metanas.get_space("rnn_text", units=(32, 64, 128)).describe
    assert out["finalist_mean_val_acc"] == pytest.approx(finalists[0][0], abs=6e-5)
    assert describe(arch) in [n for m, n in finalists if m == finalists[0][0]], finalists
    assert describe(out["ensemble"][1]) in [n for m, n in finalists if m == finalists[1][0]]
    assert 0.0 <= out["ensemble_test_acc"] <= 1.0
    # the ensemble is exported as tested and reloads as a one-logit classifier
    import torch

    from metanas.data import load_dataset
    from metanas.export import encode_texts, load_model, read_manifest
    from metanas.nn.averaging import Ensemble

    model = load_model(folder)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    manifest = read_manifest(folder)
    assert manifest["metrics"]["test_acc"] == pytest.approx(out["ensemble_test_acc"])
    # the manifest describes the ensemble, not its first member
    assert manifest["description"].startswith("ensemble of 2: ")
    assert manifest["metrics"]["params"] == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        assert model(torch.randint(1, 50, (2, 48))).shape == (2, 1)
    # new raw text is read as the training data was: the test split's own ids come back
    args = seed_rnn.parse_args(argv)
    data = load_dataset("rotten_tomatoes", seed=args.seed, max_len=args.max_len)
    texts = data.meta["test_texts"][:5]
    assert torch.equal(encode_texts(folder, texts), data.x_test[:5])
    with torch.no_grad():
        assert model(encode_texts(folder, texts)).shape == (5, 1)


def test_seed_rnn_starts_from_a_baseline(seed_rnn: ModuleType, tmp_path: Path) -> None:
    import json

    import metanas

    store = tmp_path / "seed.db"
    baseline = {"cell": "gru", "num_units": 64, "layers": 1}
    argv = ["--quick", "--threads", "1", "--trials", "2", "--finalists", "1", "--ensemble", "1"]
    seed_rnn.main([*argv, "--storage", str(store), "--baseline", json.dumps(baseline)])
    first = metanas.load_study(str(store), "seed_rnn").trials[0]
    assert dict(first.arch) == baseline


def test_ensemble_accuracy_averages_probabilities(seed_rnn: ModuleType) -> None:
    import torch

    class Fixed(torch.nn.Module):
        def __init__(self, logits: list[float]) -> None:
            super().__init__()
            self.logits = torch.tensor(logits).reshape(-1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logits

    y = torch.tensor([1, 0, 1])
    sure, unsure = Fixed([4.0, 4.0, -4.0]), Fixed([-0.5, -0.5, 4.5])
    x = torch.zeros(3, 1)  # ignored by the fixed models
    assert seed_rnn.ensemble_accuracy([sure], x, y) == pytest.approx(1 / 3)
    # means: sigmoid(4)/2 + sigmoid(-.5)/2 > 0.5 -> 1, same -> 1, mid of -4 and 4.5 > 0.5 -> 1
    assert seed_rnn.ensemble_accuracy([sure, unsure], x, y) == pytest.approx(2 / 3)


def test_one_logit_builder_gives_a_single_sigmoid_output(seed_rnn: ModuleType) -> None:
    import torch

    arch = {"cell": "gru", "num_units": 32, "layers": 1}
    model = seed_rnn.one_logit("rnn_text", arch, (12,), 2, vocab_size=50, **seed_rnn.MODEL_OPTIONS)
    out = model(torch.randint(1, 50, (4, 12)))
    assert out.shape == (4, 1)


@pytest.mark.slow
def test_seed_keras_quick_runs_a_keras_model_search(monkeypatch: pytest.MonkeyPatch) -> None:
    need_keras(monkeypatch)
    mod = load("examples/seed_keras.py")
    out = mod.main(["--quick"])
    assert out["best_arch"]["cell"] in ("rnn", "gru", "lstm")
    assert out["best_arch"]["num_units"] in (32, 64, 128)
    assert 0.0 <= out["test_acc"] <= 1.0
    assert out["keras_version"].startswith("3.")


def test_keras_model_mirrors_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    need_keras(monkeypatch)
    mod = load("examples/seed_keras.py")
    import keras

    model = mod.build_keras_model({"cell": "gru", "num_units": 32}, vocab_size=40, embed_dim=8)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Embedding", "GRU", "Dense"]
    assert model.layers[-1].units == 1 and model.layers[-1].activation is keras.activations.sigmoid
    assert model.loss == "binary_crossentropy"
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
