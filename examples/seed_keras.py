"""The seed example with the seed's own Keras model, searched through a plain objective function.

Any framework's model can be searched: the objective builds and trains a Keras 3 model (torch
backend) for the architecture it is given and returns its validation accuracy;
:class:`metanas.FunctionEvaluator` turns it into an evaluator and the study does the rest. The
model mirrors the seed: ``Embedding -> SimpleRNN / GRU / LSTM(num_units) -> Dense(1, sigmoid)``,
compiled with ``Adam(1e-3)``, binary cross-entropy and accuracy.

Run (needs ``pip install keras``):
    python examples/seed_keras.py                  # 6 trials x 3 epochs, then a final retrain
    python examples/seed_keras.py --quick          # tiny budget (smoke test)
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first keras import

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import metanas

CELLS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def build_keras_model(arch: Mapping[str, Any], vocab_size: int, embed_dim: int = 64) -> Any:
    """The seed's model for ``arch = {"cell": ..., "num_units": ...}``, compiled."""
    import keras

    layer = getattr(keras.layers, CELLS[arch["cell"]])
    model = keras.Sequential(
        [
            keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True),  # id 0 = padding
            layer(int(arch["num_units"])),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


class KerasObjective:
    """``objective(arch) -> {"val_acc", "val_loss", "params"}``: train the Keras model, score it.

    A class rather than a closure so it pickles (process-pool executors need that).
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        vocab_size: int,
        epochs: int,
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        self.arrays = arrays
        self.vocab_size = vocab_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        import keras

        keras.utils.set_random_seed(self.seed)  # Keras keeps global seeds; fix them per trial
        a = self.arrays
        model = build_keras_model(arch, self.vocab_size)
        model.fit(
            a["x_train"], a["y_train"], epochs=self.epochs, batch_size=self.batch_size, verbose=0
        )
        loss, acc = model.evaluate(a["x_val"], a["y_val"], verbose=0)
        return {
            "val_acc": float(acc),
            "val_loss": float(loss),
            "params": float(model.count_params()),
        }


def to_arrays(data: Any, cap: int | None = None) -> dict[str, np.ndarray]:
    """NumPy views of a metanas Dataset for Keras (labels as float32 for binary cross-entropy).

    ``cap`` keeps the first ``cap`` rows of each split (the smoke test's budget).
    """
    out: dict[str, np.ndarray] = {}
    for split in ("train", "val", "test"):
        out[f"x_{split}"] = getattr(data, f"x_{split}").numpy()[:cap]
        out[f"y_{split}"] = getattr(data, f"y_{split}").numpy().astype(np.float32)[:cap]
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument(
        "--storage", default=None, help="SQLite file for the trials (default: in memory)"
    )
    p.add_argument("--study-name", default="seed_keras")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-len", type=int, default=48)
    p.add_argument("--quick", action="store_true", help="tiny budget for smoke tests")
    args = p.parse_args(argv)
    args.quick = args.quick or os.environ.get("METANAS_QUICK", "") not in ("", "0")
    if args.quick:
        args.trials, args.epochs, args.max_len = min(args.trials, 2), 1, 24
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Search cell and num_units with Keras models; retrain the best on train+val; test once."""
    import keras

    from metanas.data import load_dataset

    start = time.perf_counter()
    limit = 300 if args.quick else None
    data = load_dataset("rotten_tomatoes", seed=args.seed, limit=limit, max_len=args.max_len)
    space = metanas.Space(
        [metanas.Choice("cell", tuple(CELLS)), metanas.Choice("num_units", (32, 64, 128))],
        name="seed_keras",
    )
    arrays = to_arrays(data, cap=100 if args.quick else None)
    vocab_size = int(data.meta["vocab_size"])
    objective = KerasObjective(arrays, vocab_size, args.epochs, seed=args.seed)
    study = metanas.create_study(
        space,
        "random",
        metanas.FunctionEvaluator(objective, objective="val_acc"),
        storage=args.storage,
        study_name=args.study_name,
        seed=args.seed,
        resume=args.storage is not None,
    )
    study.optimize(args.trials, progress=not args.quick)
    best = study.best_trial
    if best is None:
        raise SystemExit("no trial finished; see the errors in the store")
    for t in sorted(study.trials, key=lambda t: -(t.value or 0.0)):
        print(f"  trial {t.number:2d}  {t.arch}  val_acc={t.value}")
    keras.utils.set_random_seed(args.seed)
    model = build_keras_model(best.arch, vocab_size)
    x = np.concatenate([arrays["x_train"], arrays["x_val"]])
    y = np.concatenate([arrays["y_train"], arrays["y_val"]])
    model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
    _, test_acc = model.evaluate(arrays["x_test"], arrays["y_test"], verbose=0)
    out = {
        "best_arch": dict(best.arch),
        "best_val_acc": float(best.value or 0.0),
        "test_acc": float(test_acc),
        "keras_version": keras.__version__,
        "seconds": time.perf_counter() - start,
    }
    print(
        f"best {best.arch}: val_acc={out['best_val_acc']:.4f}, retrained on train+val: "
        f"test_acc={out['test_acc']:.4f} (keras {keras.__version__}, {out['seconds']:.0f} s)"
    )
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run(parse_args(argv))


if __name__ == "__main__":
    try:
        main()
    except metanas.UserInputError as e:  # one sentence, as the metanas command gives it
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
