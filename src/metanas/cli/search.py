"""``metanas search CONFIG`` (search, retrain the best, test, export) and ``metanas export``."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from metanas.cli.app import Interrupted, app
from metanas.types import StudyExists, UserInputError

if TYPE_CHECKING:
    from metanas.config import SearchConfig
    from metanas.space.base import Space
    from metanas.types import Trial


# options that ``metanas search`` and ``metanas export`` share
StorageOpt = Annotated[
    str | None, typer.Option("--storage", help="Store file (overrides the config).")
]
StudyOpt = Annotated[str | None, typer.Option("--study", help="Study name (overrides the config).")]
OutOpt = Annotated[
    str | None, typer.Option("--out", "-o", help="Export folder (overrides final.export_dir).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def build_evaluator(cfg: SearchConfig, space: Space) -> Any:
    from metanas.evaluation.recipe import Recipe
    from metanas.evaluation.training import TrainingEvaluator

    t = cfg.training
    return TrainingEvaluator(
        cfg.data.name, space.kind, recipe=Recipe.pick(t), fraction=t.fraction, seed=cfg.seed,
        time_limit=t.time_limit, model_options=t.model_options, data_options=data_options(cfg),
    )  # fmt: skip


def strategy_space(cfg: SearchConfig, space: Space, evaluator: Any) -> Space:
    """The space the strategy draws from: ``space``, or its proxy-screened wrapper."""
    screen = cfg.strategy.screen
    if screen is None:
        return space
    from metanas.evaluation.proxies import ProxyEvaluator
    from metanas.strategies import ScreenedSpace

    data = evaluator.data()
    proxy = ProxyEvaluator(
        screen.proxy, space_kind=space.kind, input_shape=tuple(data.input_shape),
        n_classes=data.n_classes, data=data, batch_size=screen.batch_size, seed=cfg.seed,
        model_options=evaluator.model_options_for(data),  # a text set's vocab_size too
    )  # fmt: skip
    proxy.names()  # an unknown proxy fails here, before any trial
    return ScreenedSpace(space, proxy.scorer(space.key), screen.candidates)


def check_oneshot(cfg: SearchConfig, space: Space) -> None:
    """Refuse a ``strategy.oneshot`` the search cannot use (before anything else is built)."""
    if cfg.strategy.oneshot is None:
        return
    if cfg.strategy.name != "most_probable":
        raise UserInputError(
            "strategy.oneshot hands its op distributions to the most_probable strategy; "
            "set strategy.name: most_probable."
        )
    if "probs" in cfg.strategy.params:
        raise UserInputError("give either strategy.params.probs or strategy.oneshot, not both.")
    if space.kind != "nb201":
        raise UserInputError(
            f"strategy.oneshot searches the nb201 cell space, not {space.kind!r}; "
            "set space.name: nb201."
        )


def oneshot_kwargs(
    cfg: SearchConfig, space: Space, evaluator: Any, resume: bool, quiet: bool = False
) -> dict[str, Any]:
    """The strategy's options, with ``probs`` from a one-shot search when the config asks for one.

    Skipped for a study that is being resumed: it rebuilds its strategy from the stored options.
    The config passed :func:`check_oneshot` before the evaluator was built.
    """
    params = dict(cfg.strategy.params)
    osc = cfg.strategy.oneshot
    if osc is None:
        return params
    if resume and _study_stored(cfg):
        return params
    from metanas.oneshot import oneshot_search

    o, t = osc, cfg.training
    res = oneshot_search(
        evaluator.data(), method=o.method, epochs=o.epochs, C=o.C, N=o.N,
        batch_size=o.batch_size, warmup=o.warmup, selection=o.selection, seed=cfg.seed,
        device=t.device, num_threads=t.num_threads, progress=not quiet,
        time_budget=None if o.time_budget_minutes is None else o.time_budget_minutes * 60,
    )  # fmt: skip
    if not quiet:
        _err(
            f"one-shot {o.method} search: {res.epochs} epochs in {res.seconds:.1f} s, supernet "
            f"val_acc {res.history[-1].val_accuracy:.4f}, most probable cell "
            f"{space.describe(res.arch)}"
        )
    return {**params, "probs": res.probs}


def _exists(name: str | None, where: str) -> NoReturn:
    raise UserInputError(
        f"study {name!r} already exists in {where}; add --resume to continue it, or name a new "
        "one with --study."
    )


def _stored_config(cfg: SearchConfig) -> dict[str, Any] | None:
    """The stored settings of the config's study, ``None`` when it is not in its store (a store
    not yet made holds none, and is not made here); the store's own rules read the path or URL."""
    from metanas.storage import open_store
    from metanas.storage.sqlite import store_path

    if not Path(store_path(cfg.storage)).exists():
        return None
    with open_store(cfg.storage) as store:
        info = store.get_study(cfg.study)
    return None if info is None else dict(info.config)


def _study_stored(cfg: SearchConfig) -> bool:
    return _stored_config(cfg) is not None


def _study_from_file_name(config: str) -> str:
    """The study name of a CONFIG without ``study:``: its file name without ``.yaml``."""
    from metanas.storage.sqlite import check_study_name

    name = Path(config).name.removesuffix(".yaml").removesuffix(".yml")
    try:
        return check_study_name(name)
    except UserInputError:
        raise UserInputError(
            f"CONFIG names no study, and its file name gives {name!r}, which is not a usable "
            "study name; set study: in CONFIG or pass --study NAME."
        ) from None


def _out_dir(out: str | None, cfg: SearchConfig) -> str:
    """``--out``, else the config's export folder; an empty ``--out`` is a mistake, not a default."""
    if out is None:
        return cfg.final.export_dir
    if not out.strip():
        raise UserInputError("--out is empty; give a folder such as --out model.")
    return out


def check_out_dir(
    out_dir: str, what: str = "export folder", option: str = "--out", study: str | None = None
) -> None:
    """Fail before the search, not after it, when the export folder cannot be written, or
    when it holds another study's model (whose files an export would mix with this one's)."""
    p = Path(out_dir)
    try:
        held = json.loads((p / "arch.json").read_text()).get("study") if study else None
    except (OSError, ValueError, AttributeError):
        held = None  # no export there, or not one of ours
    if held is not None and held != study:
        raise UserInputError(
            f"{what} {out_dir!r} holds the model of study {held!r}, not {study!r}; pass "
            f"{option} with another folder, or delete that one first."
        )
    probe = p if p.exists() else next((q for q in p.parents if q.exists()), Path("."))
    try:  # a throwaway file tells the truth where permission bits do not (root, /proc, ro mounts)
        if not probe.is_dir():
            raise NotADirectoryError(str(probe))
        tempfile.TemporaryFile(dir=probe).close()
    except OSError:
        raise UserInputError(
            f"{what} {out_dir!r} cannot be created or written ({probe} is not a writable "
            f"folder); pass {option} with a writable path."
        ) from None


def data_options(cfg: SearchConfig) -> dict[str, Any]:
    d = cfg.data
    return {"seed": cfg.seed, "val_fraction": d.val_fraction, "limit": d.limit, **d.options}


def _workers_option(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise UserInputError(f"--workers must be a positive integer or auto, got {text!r}.")
    return n


def _warm_note(st: Any, asked: bool | str) -> str:
    strat = st.strategy
    if getattr(strat, "name", None) != "warm_start":
        return (
            ", cold: no earlier study of this space (the same parameters) to warm-start from"
            if asked
            else ""
        )
    n = len(getattr(strat, "priors", []))
    return f", warm-started from {n} earlier task(s)"


def _start_note(cfg: SearchConfig) -> str:
    n = len(cfg.strategy.start_from)
    return "" if not n else f", starting from {n} given architecture{'s' * (n > 1)}"


def _budget_note(st: Any, cfg: SearchConfig) -> str:
    """A multi-fidelity strategy trains for its rungs' epochs, not ``training.epochs``: say so."""
    budgets = getattr(st.strategy, "budgets", None)
    if not getattr(st.strategy, "uses_budgets", False) or not budgets:
        return ""
    rungs = ", ".join(f"{b:g}" for b in budgets)
    return f", training {rungs} epochs by rung (not training.epochs: {cfg.training.epochs:g})"


def _screen_note(cfg: SearchConfig) -> str:
    sc = cfg.strategy.screen
    return "" if sc is None else f", samples screened by {sc.proxy} (best of {sc.candidates})"


def executor_name(cfg: SearchConfig) -> str:
    """``cfg.executor``, or the default: inline unless several workers or hard limits ask for
    processes (see :class:`metanas.config.SearchConfig`)."""
    if cfg.executor is not None:
        return cfg.executor
    limited = cfg.time_limit is not None or cfg.memory_limit_mb is not None
    return "pool" if cfg.workers != 1 or limited else "inline"


def _check_ray_address(address: str) -> None:
    """Refuse at once an address Ray would spend minutes of connection retries on."""
    import re
    import socket

    if address in ("auto", "local"):
        return
    m = re.fullmatch(r"(?:ray://)?([\w.\-]+):(\d{1,5})", address)
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise UserInputError(
            f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT or auto; fix --address "
            "(or the config's address)."
        )
    try:  # a plain TCP connect: refused or unroutable fails in seconds, not minutes
        socket.create_connection((m.group(1), int(m.group(2))), timeout=5).close()
    except OSError as e:
        raise UserInputError(
            f"cannot reach a Ray cluster at {address!r} ({e.strerror or e}); start it with "
            "'ray start --head' or fix --address."
        ) from None


def _executor(cfg: SearchConfig) -> Any:
    """The executor the config names (``None``: the study runs trials inline itself)."""
    from metanas.execution import make_executor

    name = executor_name(cfg)
    limits = {k: getattr(cfg, k) for k in ("time_limit", "memory_limit_mb", "max_retries")}
    limits = {k: v for k, v in limits.items() if v is not None}
    if cfg.training.num_threads is not None:
        limits["threads_per_worker"] = cfg.training.num_threads
    workers = None if cfg.workers == "auto" else cfg.workers
    if name == "inline":
        if workers not in (None, 1):
            raise UserInputError(
                f"the inline executor runs one trial at a time, but workers is {cfg.workers}; "
                "use --executor pool or ray, or --workers 1."
            )
        limits.pop("threads_per_worker", None)
        limits.pop("max_retries", None)  # nothing to retry in-process
        if not limits and cfg.address is None:
            return None
    ex = make_executor(name, workers, cfg.address, **limits)  # Ray: checks it is installed
    if name == "ray" and cfg.address is not None:
        _check_ray_address(cfg.address)  # refused in seconds, not after minutes of retries
        ex.connect()  # before the study is stored: a cluster that is not there leaves nothing
    return ex


def finalize(
    cfg: SearchConfig, space: Space, best: Trial, out_dir: str, *, quiet: bool = False
) -> dict[str, Any]:
    """Retrain ``best`` on train + validation, test it once, export it; return the manifest."""
    from metanas.data import input_preprocessing
    from metanas.evaluation.training import load_dataset_cached, train_final
    from metanas.export import export_model

    # the search may use a subsample (data.limit); the final model trains on all the training data
    opts = {**data_options(cfg), "limit": None}
    data = load_dataset_cached(cfg.data.name, **opts)
    kw = cfg.final_training()
    epochs = kw["epochs"]
    cap = kw.get("time_budget")
    # under a time cap the run may end (fully annealed) before the planned epochs
    plan = f"{epochs:g}" if cap is None else f"{epochs:g} or fewer to fit {cap / 60:g} min"

    def progress(epoch: int, done: float, loss: float) -> None:
        if not quiet:
            _err(f"  final training: epoch {done:.2f}/{plan}, train loss {loss:.4f}")

    model, metrics = train_final(
        space, best.arch, cfg.data.name, data_options=opts, progress=progress, **kw
    )
    metrics["val_acc_search"] = float(best.value) if best.value is not None else float("nan")
    from metanas.evaluation.training import TrainingEvaluator

    options = TrainingEvaluator(
        data, space.kind, model_options=kw["model_options"]
    ).model_options_for(data)
    return export_model(
        model, space, best.arch, out_dir, example_input=data.x_test[:4], formats=cfg.final.formats,
        metrics=metrics, model_options=options, preprocessing=input_preprocessing(data.meta),
        extra={"study": cfg.study, "trial": best.number, "config": cfg.model_dump(mode="json")},
    )  # fmt: skip


def _print_summary(
    space: Space, best: Trial, manifest: dict[str, Any], out_dir: str, wall: float
) -> None:
    m = manifest["metrics"]
    typer.echo(f"best architecture: {space.describe(best.arch)}")
    typer.echo(
        f"  trial {best.number}, search val_acc {best.value:.4f}, params {int(m['params']):,}"
    )
    views = f" (single view {m['test_acc_single_view']:.4f})" if "test_acc_single_view" in m else ""
    typer.echo(
        f"  test accuracy {m['test_acc']:.4f}{views} after {m['epochs']:.2f} final epochs on"
        " train+val"
    )
    if "onnx_max_abs_diff" in manifest:
        typer.echo(f"  ONNX max |diff| vs PyTorch {manifest['onnx_max_abs_diff']:.2e}")
    typer.echo(f"exported to {out_dir}")
    typer.echo(f"wall time {wall:.1f} s (final training {m['seconds']:.1f} s)")


@app.command("search")
def search(
    config: Annotated[
        str,
        typer.Argument(
            help="YAML config file, or a shipped config name (e.g. fashion_mnist_quick)."
        ),
    ],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the stored study of this name.")
    ] = False,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    out: OutOpt = None,
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", min=1, help="Overrides budget.n_trials.")
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor", help="Where trials run: inline, pool or ray (overrides the config)."
        ),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            help="Trials at once: a positive integer, or auto (one per core; Ray: every CPU "
            "of the cluster).",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster address (HOST:PORT, ray://..., auto)."),
    ] = None,
    warm_start: Annotated[
        bool,
        typer.Option(
            "--warm-start",
            help="Start from what earlier studies in this store learnt on the same space.",
        ),
    ] = False,
    warm_start_from: Annotated[
        str | None,
        typer.Option(
            "--warm-start-from",
            metavar="STORE",
            help="Warm-start from the studies in STORE (a path or URL) instead.",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Search CONFIG's space, retrain the best architecture, report test accuracy and export it."""
    from metanas.config import load_config, parse_config
    from metanas.space import get_space
    from metanas.study import create_study

    t0 = time.perf_counter()
    cfg = load_config(config)
    overrides: dict[str, Any] = {}
    if storage is not None:
        overrides["storage"] = storage
    if study is not None:
        overrides["study"] = study
    if executor is not None:
        overrides["executor"] = executor
    if workers is not None:
        overrides["workers"] = _workers_option(workers)
    if address is not None:
        overrides["address"] = address
    if warm_start_from is not None and warm_start:
        raise UserInputError(
            "--warm-start learns from this store, --warm-start-from from another; give one."
        )
    if warm_start_from is not None:
        overrides["warm_start"] = warm_start_from
    elif warm_start:
        overrides["warm_start"] = True
    if overrides or n_trials is not None or cfg.study is None:
        raw = cfg.model_dump(mode="json")
        raw.update(overrides)
        if raw["study"] is None:  # an empty --study stays empty, to be refused by name
            raw["study"] = _study_from_file_name(config)
        if n_trials is not None:
            raw["budget"]["n_trials"] = n_trials
        cfg = parse_config(raw)
    from metanas.storage.sqlite import store_path

    if store_path(cfg.storage) == ":memory:":
        raise UserInputError(
            f"storage {cfg.storage!r} keeps nothing once the search ends (no resume, no "
            "export); give a file path such as --storage metanas.db."
        )
    if cfg.final.enabled:
        check_out_dir(_out_dir(out, cfg), study=cfg.study)
    elif out is not None:
        raise UserInputError(
            "--out names the folder of the final model, but CONFIG has final: {enabled: false}; "
            "leave --out out, or enable the final training."
        )
    if executor_name(cfg) != "ray":  # a Ray cluster's workers may have the GPU this one lacks
        from metanas.evaluation.fit import check_device_here

        check_device_here(cfg.training.device)
    space = get_space(cfg.space.name, **cfg.space.params)
    check_oneshot(cfg, space)
    if cfg.strategy.name == "proxy_prescreen":  # its scorer is a Python function
        raise UserInputError(
            "strategy proxy_prescreen takes a Python scorer function, which a config cannot "
            "give; in a config, screen a strategy's samples with strategy.screen, e.g. "
            "{name: evolution, screen: {proxy: synflow}}."
        )
    evaluator = build_evaluator(cfg, space)
    trains = callable(getattr(evaluator, "data", None))
    if cfg.final.enabled and cfg.final.tta and trains and evaluator.data().x_test.dim() != 4:
        raise UserInputError(  # now, not after the whole search
            f"final.tta (test-time augmentation) needs image data, and {cfg.data.name!r} is "
            "not images; set final.tta: false."
        )
    drawn_from = strategy_space(cfg, space, evaluator)
    stored = _stored_config(cfg) if resume or cfg.strategy.oneshot is not None else None
    if cfg.strategy.oneshot is not None and not resume and stored is not None:
        _exists(cfg.study, cfg.storage)  # now, not after minutes of supernet training
    stored_seed = (stored or {}).get("seed") if resume else None
    if stored_seed is not None and stored_seed != cfg.seed:  # explicit: a resume must keep it
        raise UserInputError(
            f"study {cfg.study!r} in {cfg.storage} was created with seed {stored_seed}, not "
            f"{cfg.seed}; set seed: {stored_seed} to resume it, or name a new study with --study."
        )
    ex = _executor(cfg)  # its mistakes, too, before the supernet
    try:
        strategy_kwargs = oneshot_kwargs(cfg, space, evaluator, resume, quiet)
        try:
            st = create_study(
                drawn_from, cfg.strategy.name, evaluator, storage=cfg.storage, study_name=cfg.study,
                seed=cfg.seed, resume=resume, strategy_kwargs=strategy_kwargs, executor=ex,
                warm_start=cfg.warm_start,
                warm_options={"budget": cfg.budget.n_trials} if cfg.warm_start else None,
                start_from=cfg.strategy.start_from,
            )  # fmt: skip
        except StudyExists as e:
            _exists(e.name, e.where)
        timeout = None if cfg.budget.timeout_minutes is None else cfg.budget.timeout_minutes * 60
        with st.exclusive():  # a second process on this study is refused before the header
            if not quiet:
                _err(f"study {cfg.study!r} in {cfg.storage}: {cfg.strategy.name} search of "
                     f"{space.name}, {cfg.budget.n_trials} trials on {cfg.data.name} "
                     f"({executor_name(cfg)} executor)"
                     f"{_screen_note(cfg)}{_budget_note(st, cfg)}"
                     f"{_warm_note(st, cfg.warm_start and not resume)}"
                     f"{_start_note(cfg)}")  # fmt: skip
                if st.n_finished >= cfg.budget.n_trials:
                    _err(f"it already holds {st.n_finished} finished trials: none to run (raise "
                         "--n-trials to search on)")  # fmt: skip
            try:
                st.optimize(cfg.budget.n_trials, timeout=timeout, progress=not quiet)
            except KeyboardInterrupt:
                raise Interrupted(
                    f"interrupted; the {st.n_finished} finished trials of study {cfg.study!r} "
                    f"are kept in {cfg.storage}: rerun with --resume to go on."
                ) from None
    finally:
        if ex is not None:  # the study leaves a caller's executor running after a clean run
            ex.shutdown()
    best = st.best_trial
    if best is None:
        errors = [t.error for t in st.trials if t.error]
        hint = f" (first error: {errors[0]})" if errors else ""
        raise UserInputError(
            f"no trial of study {cfg.study!r} completed{hint}; fix the config or data and start "
            "afresh with another --study name (a resume keeps the study's training settings), "
            "or, when the machine was at fault (threads, device, memory), go on with --resume "
            f"and a larger --n-trials (its {len(st.trials)} failed trials count toward it)."
        )
    search_s = time.perf_counter() - t0
    if not quiet:
        _err(
            f"search done in {search_s:.1f} s: best val_acc {best.value:.4f} ({space.describe(best.arch)})"
        )
    if not cfg.final.enabled:
        typer.echo(f"best architecture: {space.describe(best.arch)} (val_acc {best.value:.4f})")
        typer.echo(json.dumps(dict(best.arch)))
        return
    out_dir = _out_dir(out, cfg)
    try:
        manifest = finalize(cfg, space, best, out_dir, quiet=quiet)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted in the final training; the search's {st.n_finished} trials of study "
            f"{cfg.study!r} are kept in {cfg.storage}: `metanas export {config}` (with the same "
            "--storage and --study) trains and exports the best one."
        ) from None
    manifest["metrics"]["search_seconds"] = search_s
    _print_summary(space, best, manifest, out_dir, time.perf_counter() - t0)
    _write_figures(st, Path(out_dir) / "figures")


def _write_figures(st: Any, folder: Path) -> None:
    """The search's figures beside the exported model, when matplotlib is there to draw them."""
    from metanas.analysis.plots import check_can_plot, save_study_plots

    try:
        check_can_plot()
    except UserInputError:
        typer.echo("figures: none (pip install 'metanas[plot]' to have them drawn)")
        return
    paths = save_study_plots(st, folder)
    typer.echo(f"figures in {folder}: {', '.join(p.name for p in paths)}")


@app.command("export")
def export(
    config: Annotated[
        str, typer.Argument(help="The YAML config (or shipped name) the study ran with.")
    ],
    out: OutOpt = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    epochs: Annotated[
        float | None, typer.Option("--epochs", min=0.01, help="Overrides final.epochs.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Retrain the best trial of a stored study on train + validation, test it and export it."""
    from metanas.config import load_config, parse_config
    from metanas.study import load_study

    t0 = time.perf_counter()
    cfg = load_config(config)
    raw = cfg.model_dump(mode="json")
    raw["storage"] = storage if storage is not None else raw["storage"]
    raw["study"] = study if study is not None else raw["study"]
    if raw["study"] is None:
        raw["study"] = _study_from_file_name(config)
    if epochs is not None:
        if not math.isfinite(epochs):
            raise UserInputError(
                f"--epochs must be a finite number, got {epochs}; e.g. --epochs 5."
            )
        raw["final"]["epochs"] = epochs
    cfg = parse_config(raw)
    from metanas.storage.sqlite import store_path

    if not Path(store_path(cfg.storage)).exists():  # a sqlite:/// URL names its file too
        raise UserInputError(
            f"store {cfg.storage!r} does not exist; run metanas search first or pass --storage."
        )
    assert cfg.study is not None  # set just above
    st = load_study(cfg.storage, cfg.study)
    if st.task is not None:  # the config must name the data the study was searched on
        from metanas._resume import check_same_task
        from metanas.evaluation.training import load_dataset_cached

        data = load_dataset_cached(cfg.data.name, **{**data_options(cfg), "limit": None})
        check_same_task(
            st.task, data.task_info(), f"study {cfg.study!r}",
            "export it with the config it was searched with",
        )  # fmt: skip
    check_out_dir(_out_dir(out, cfg), study=cfg.study)
    best = st.best_trial
    if best is None or st.space is None:
        raise UserInputError(
            f"study {cfg.study!r} has no completed trial to export; run or resume the search."
        )
    out_dir = _out_dir(out, cfg)
    manifest = finalize(cfg, st.space, best, out_dir, quiet=quiet)
    _print_summary(st.space, best, manifest, out_dir, time.perf_counter() - t0)
    _write_figures(st, Path(out_dir) / "figures")
