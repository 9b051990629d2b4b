"""ProxyEvaluator: score an architecture by zero-cost proxies instead of training it.

Implements the :class:`~metanas.evaluation.base.Evaluator` protocol: ``evaluate`` builds the
network at initialisation, computes the proxies on one seeded batch and returns the ``objective``
proxy as the value, every proxy in the metrics and the seconds spent as the cost.

``objective="vote"`` is the rank vote of synflow, jacob_cov and snip. A vote is relative to a
population, so the value is the mean quantile of the cell's three scores among every cell this
evaluator instance has scored so far (itself included): early values are coarse, and copies of the
evaluator in other processes keep separate populations.

Example:
    >>> from metanas.space.nb201 import nb201_from_string
    >>> ev = ProxyEvaluator("synflow", model_options={"C": 8, "N": 1})
    >>> a = nb201_from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    >>> r = ev.evaluate(a, None, lambda s, m: "continue")
    >>> r.value == r.metrics["synflow"] and r.cost > 0
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from metanas.evaluation.base import Reporter
from metanas.evaluation.malloc import keep_freed_memory
from metanas.evaluation.proxies.combined import VOTE_PROXIES
from metanas.evaluation.proxies.registry import check_names
from metanas.types import Architecture, Budget, Result, TaskInfo, UserInputError


class ProxyEvaluator:
    """Zero-cost evaluation of architectures of space kind ``space_kind``.

    Args:
        objective: a proxy name (see ``proxy_names()``) or ``"vote"``.
        proxies: proxies to compute (default: the objective's); all land in the metrics.
        space_kind: model builder kind (``metanas.nn.build_model``).
        input_shape, n_classes: the network's input (without batch) and output size.
        data: ``"random"``, a data set name (e.g. ``"fashion_mnist"``) or a ``Dataset``.
        batch_size: examples in the one batch the data-dependent proxies see.
        seed: seeds the batch and the initial weights.
        model_options: builder options, e.g. ``{"C": 16, "N": 5}`` for nb201.
        num_threads: torch CPU threads while scoring (``None``: torch's setting). The default, one
            thread, is the fastest on a shared machine: on 2 busy cores a batch-64 pass took 11 s
            with 2 threads against 1 s with one; run cells in parallel processes instead.
    """

    def __init__(
        self,
        objective: str = "synflow",
        proxies: Sequence[str] | None = None,
        space_kind: str = "nb201",
        input_shape: tuple[int, ...] = (3, 32, 32),
        n_classes: int = 10,
        data: Any = "random",
        batch_size: int = 64,
        seed: int = 0,
        model_options: Mapping[str, Any] | None = None,
        num_threads: int | None = 1,
    ) -> None:
        self.objective = objective
        self.proxies = list(proxies) if proxies is not None else None
        self.space_kind = space_kind
        self.input_shape = tuple(input_shape)
        self.n_classes = n_classes
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.model_options = dict(model_options or {})
        self.num_threads = num_threads
        self._batch: Any = None
        self._population: dict[str, list[float]] = {}
        self.names()  # a misspelt proxy is refused now, not at the first trial

    def names(self) -> list[str]:
        """The proxies computed per architecture (the objective's first)."""
        need = list(VOTE_PROXIES) if self.objective == "vote" else [self.objective]
        extra = [n for n in (self.proxies or []) if n not in need]
        return check_names(need + extra)

    def batch(self) -> Any:
        """The seeded batch (built on first use and kept)."""
        if self._batch is None:
            from metanas.evaluation.proxies.batch import make_batch

            self._batch = make_batch(
                self.data, self.batch_size, self.input_shape, self.n_classes, self.seed
            )
        return self._batch

    def scores(self, arch: Architecture) -> dict[str, float]:
        """Every proxy of :meth:`names` for ``arch``."""
        import torch

        from metanas.evaluation.proxies.batch import model_factory
        from metanas.evaluation.proxies.registry import compute_proxies

        keep_freed_memory()
        factory = model_factory(
            self.space_kind, arch, self.input_shape, self.n_classes, self.seed, self.model_options
        )
        before = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            return compute_proxies(factory, self.batch(), self.names(), seed=self.seed)
        finally:
            torch.set_num_threads(before)

    def _vote(self, metrics: Mapping[str, float]) -> float:
        qs = []
        for n in VOTE_PROXIES:
            pop = self._population.setdefault(n, [])
            v = metrics[n]
            pop.append(v)
            arr = np.where(np.isnan(pop), -np.inf, pop)
            x = -np.inf if v != v else v
            qs.append((np.sum(arr < x) + 0.5 * (np.sum(arr == x) - 1)) / max(len(arr) - 1, 1))
        return float(np.mean(qs))

    def evaluate(
        self, arch: Architecture, budget: Budget | None = None, report: Reporter | None = None
    ) -> Result:
        t0 = time.perf_counter()
        try:
            metrics = self.scores(arch)
        except UserInputError:
            raise
        except Exception as e:  # a network that cannot be built or run: a failed trial
            return Result.failed(f"{type(e).__name__}: {e}", cost=time.perf_counter() - t0)
        metrics = dict(metrics)
        if self.objective == "vote":
            metrics["vote"] = self._vote(metrics)
        value = metrics[self.objective]
        cost = time.perf_counter() - t0
        if value != value:
            return Result.failed("proxy undefined for this network", cost=cost, metrics=metrics)
        return Result(value=float(value), metrics=metrics, cost=cost)

    def task_info(self) -> TaskInfo:
        return TaskInfo(
            name=f"proxy-{self.objective}",
            modality="proxy",
            input_shape=self.input_shape,
            n_classes=self.n_classes,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_batch"] = None  # rebuilt from the seed in the receiving process
        return state

    def scorer(self, key: Callable[[Architecture], str] | None = None) -> ProxyScorer:
        """A cached ``arch -> float`` for :class:`metanas.strategies.proxy_prescreen.ProxyPrescreen`."""
        return ProxyScorer(self, key)


class ProxyScorer:
    """``arch -> objective score``, cached by ``key(arch)`` (e.g. the space's canonical key).

    ``seconds`` accumulates the time spent computing (cache hits are free).
    """

    def __init__(
        self, evaluator: ProxyEvaluator, key: Callable[[Architecture], str] | None = None
    ) -> None:
        self.evaluator = evaluator
        self.key = key
        self.cache: dict[str, float] = {}
        self.seconds = 0.0

    def __call__(self, arch: Architecture) -> float:
        k = self.key(arch) if self.key is not None else repr(sorted(arch.items()))
        hit = self.cache.get(k)
        if hit is not None:
            return hit
        r = self.evaluator.evaluate(arch)
        self.seconds += r.cost
        v = float("-inf") if r.value is None else float(r.value)
        self.cache[k] = v
        return v
