"""Rotten Tomatoes (fresh vs rotten) test accuracy: TF-IDF + logistic regression, a hand-designed
GRU, and the seed example's RNN / attention search (``examples/seed_rnn.py``).

Protocol: the stratified 80/20 train/test split with seed 0; validation (10 %) is carved from train
with seed 0 and used for every choice (the logistic regression's C, the searched architecture);
the test split is scored once per model, after retraining on train + validation.

Run (about 3 minutes alone on 2 CPU cores, 30 on busy ones; ``--final-seeds 5`` adds ~6 and
``--search-seeds 5`` ~10):
    nice python benchmarks/bench_rotten_tomatoes.py --out benchmarks/out/rotten_tomatoes.json
    nice python benchmarks/bench_rotten_tomatoes.py --quick      # seconds-scale smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load_seed_example() -> Any:
    """``examples/seed_rnn.py`` as a module (examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("seed_rnn", ROOT / "examples" / "seed_rnn.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["seed_rnn"] = mod  # its builder must be importable by name (pickling)
    spec.loader.exec_module(mod)
    return mod


def tfidf_baseline(cs: tuple[float, ...] = (1.0, 3.0, 10.0)) -> dict[str, Any]:
    """Unigram TF-IDF + logistic regression: sklearn defaults (C=1), and C chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from metanas.data.splits import VAL_STREAM, rng_for, stratified_split
    from metanas.data.text import rotten_tomatoes_texts

    start = time.perf_counter()
    tr_x, tr_y, te_x, te_y = rotten_tomatoes_texts(0)
    keep, val = stratified_split(tr_y, 0.1, rng_for(0, VAL_STREAM))  # the data set's own split

    def fit_score(train: list[str], y: Any, test: list[str], y_test: Any, c: float) -> float:
        vec = TfidfVectorizer()
        clf = LogisticRegression(C=c, max_iter=2000).fit(vec.fit_transform(train), y)
        return float(clf.score(vec.transform(test), y_test))

    val_acc = {
        c: fit_score([tr_x[i] for i in keep], tr_y[keep], [tr_x[i] for i in val], tr_y[val], c)
        for c in cs
    }
    best_c = max(cs, key=lambda c: (val_acc[c], -c))  # ties: the stronger regularisation
    return {
        "default_C1_test_acc": fit_score(tr_x, tr_y, te_x, te_y, 1.0),
        "val_acc_by_C": {str(c): a for c, a in val_acc.items()},
        "chosen_C": best_c,
        "chosen_test_acc": fit_score(tr_x, tr_y, te_x, te_y, best_c),
        "seconds": time.perf_counter() - start,
    }


HAND_ARCH = {"cell": "gru", "num_units": 64, "layers": 1}


def load_reviews(quick: bool) -> Any:
    """The data set every RNN here trains on, tokenised once (the seed example's settings)."""
    from metanas.data import load_dataset

    return load_dataset("rotten_tomatoes", limit=400 if quick else None, max_len=48)


def hand_baseline(
    seed_rnn: Any, data: Any, epochs: float, arch: dict[str, Any] = HAND_ARCH, seed: int = 0
) -> tuple[Any, dict[str, Any]]:
    """``arch`` (default: a 1-layer GRU(64)) with the seed example's recipe, retrained on train+val,
    tested once: the trained model and its figures."""
    from metanas.evaluation.training import train_final

    model, m = train_final(
        "rnn_text", arch, data, epochs=epochs, loss="bce", lr=seed_rnn.LR, batch_size=32,
        model_options=seed_rnn.MODEL_OPTIONS, builder=seed_rnn.one_logit, seed=seed,
    )  # fmt: skip
    return model, {"arch": arch, "epochs": epochs, **m}


def seed_spread(
    seed_rnn: Any, data: Any, archs: dict[str, dict[str, Any]], epochs: float, seeds: int
) -> dict[str, Any]:
    """Test accuracy of each architecture retrained with ``seeds`` initialisation seeds: how much
    of a gap between two single runs is the seed's."""
    out = {}
    for name, arch in archs.items():
        runs = [hand_baseline(seed_rnn, data, epochs, arch, s) for s in range(seeds)]
        accs = [m["test_acc"] for _, m in runs]
        out[name] = {"arch": arch, "test_acc": accs, "mean": statistics.mean(accs)}
        out[name]["sd"] = statistics.stdev(accs) if seeds > 1 else 0.0
        # the budget of the search's 3-finalist ensemble: three seeds of one architecture
        out[name]["ensemble_of_3_seeds"] = seed_rnn.ensemble_accuracy(
            [model for model, _ in runs[:3]], data.x_test, data.y_test
        )
        print(
            f"{name}: test acc over {seeds} seeds {out[name]['mean']:.4f} ± {out[name]['sd']:.4f}"
            f"; mean probability of the first three: {out[name]['ensemble_of_3_seeds']:.4f}"
        )
    return out


def spread_over_search_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Test accuracy of the single pick and of the finalists' ensemble over whole searches run
    with different seeds (validation split, search, retrains; the test split stays fixed)."""
    out: dict[str, Any] = {"best_arch": [r["best_arch"] for r in runs]}
    for key in ("test_acc", "ensemble_test_acc"):
        accs = [r[key] for r in runs if key in r]
        if accs:
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            out[key] = {"runs": accs, "mean": statistics.mean(accs), "sd": sd}
            print(f"{key} over {len(accs)} search seeds: {out[key]['mean']:.4f} ± {sd:.4f}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--epochs", type=float, default=2, help="epochs per search trial")
    p.add_argument("--final-epochs", type=float, default=2, help="retrain epochs (both RNNs)")
    p.add_argument(
        "--final-seeds", type=int, default=0,
        help="then retrain the searched and the hand architecture with this many seeds each",
    )  # fmt: skip
    p.add_argument(
        "--ensemble", type=int, default=3, help="finalists whose mean probability is also scored"
    )
    p.add_argument(
        "--search-seeds", type=int, default=1,
        help="run the whole seed search with seeds 0..N-1 and report the spread",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="JSON file for the figures")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    start = time.perf_counter()
    seed_rnn = load_seed_example()
    results: dict[str, Any] = {
        "recipe": {"lr": seed_rnn.LR, "model_options": seed_rnn.MODEL_OPTIONS, "max_len": 48},
        "tfidf_logreg": tfidf_baseline(),
    }
    print("tfidf:", results["tfidf_logreg"], flush=True)
    final = 0.2 if args.quick else args.final_epochs
    data = load_reviews(args.quick)
    results["hand_gru64"] = hand_baseline(seed_rnn, data, final)[1]
    print("hand GRU(64):", results["hand_gru64"], flush=True)
    argv = ["--trials", str(args.trials), "--epochs", str(args.epochs)]
    argv += ["--final-epochs", str(args.final_epochs), "--ensemble", str(args.ensemble)]
    argv += ["--quick"] if args.quick else []
    results["seed_search"] = seed_rnn.main(argv)
    if args.search_seeds > 1:
        runs = [results["seed_search"]]
        runs += [seed_rnn.main([*argv, "--seed", str(s)]) for s in range(1, args.search_seeds)]
        results["search_seed_spread"] = spread_over_search_seeds(runs)
    if args.final_seeds:
        archs = {"searched": results["seed_search"]["best_arch"], "hand": HAND_ARCH}
        results["seed_spread"] = seed_spread(seed_rnn, data, archs, final, args.final_seeds)
    results["wall_seconds"] = time.perf_counter() - start
    print(json.dumps(results, indent=2, default=str))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
