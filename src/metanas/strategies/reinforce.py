"""REINFORCE (Zoph & Le 2017) with a tabular policy: one categorical decision per active dimension.

The controller samples the dimensions in the space's order; a conditional dimension is decided only
when its condition holds, so only the decisions actually taken receive gradients. With
``autoregressive=True`` each decision's logits also depend on the value chosen for the previous
active dimension (a table of logits per previous value), the tabular analogue of the RNN
controller. Update per result: ``logits += lr * Adam(A * grad log pi(a) + beta * grad H)`` with
advantage ``A = (reward - baseline) / scale``; ``baseline`` is an exponential moving average of
the rewards and ``scale`` their running standard deviation, so the same defaults work for
accuracies in % or in [0, 1].

The policy is plain numbers: :meth:`Reinforce.policy` exports the logits, and ``init_policy``
starts a controller from given ones (e.g. a policy learned on an earlier task, or one fitted to
past results by :func:`metanas.meta.policy.initial_policy`), so nothing here knows where they
came from.

Example:
    >>> from metanas.space import Space, Choice
    >>> st = Reinforce(Space([Choice("a", (1, 2, 3))]), seed=0)
    >>> st.ask().arch["a"] in (1, 2, 3)
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.space.dims import Choice, Dim, FloatRange
from metanas.strategies.base import Strategy, register_strategy
from metanas.types import Candidate, Result, UserInputError

_FINITE_MAX = 64


def _condition_values(space: Space) -> dict[str, list[Any]]:
    """The values each dimension's name is compared with by the others' conditions."""
    out: dict[str, list[Any]] = {}
    for d in space.dims:
        if d.when is not None:
            c = d.when
            out.setdefault(c.dim, []).extend(c.value if c.op == "in" else [c.value])
    return out


def _on_range(d: Dim, values: Iterable[Any]) -> set[Any]:
    """The ``values`` that are values of range ``d`` (a whole float counts for an int range)."""
    keep = set()
    for v in values:
        if isinstance(v, float) and v.is_integer() and not isinstance(d, FloatRange):
            v = int(v)
        with contextlib.suppress(UserInputError):
            keep.add(d.validate(v))
    return keep


class Decisions:
    """The space as a sequence of categorical decisions (large ranges binned into ``n_bins``).

    With ``bin_conditions`` a binned range also offers the values other dimensions' conditions
    compare it with (and, for a float range, its ends), so that every condition can hold:
    ``width == 50`` on a range binned at 1, 8, 14, ... would otherwise keep its dimension out of
    every proposal.
    """

    def __init__(self, space: Space, n_bins: int = 16, bin_conditions: bool = True) -> None:
        self.space = space
        self.values: list[list[Any]] = []
        compared = _condition_values(space) if bin_conditions else {}
        for d in space.dims:
            card = d.cardinality
            # a choice keeps every option however many; only large ranges are binned
            if isinstance(d, Choice) or (card is not None and card <= _FINITE_MAX):
                self.values.append(list(d.values()))
                continue
            if isinstance(d, FloatRange):
                grid = {
                    min(max(d._from_unit((i + 0.5) / n_bins), d.low), d.high) for i in range(n_bins)
                }
                ends = [d.low, d.high] if d.name in compared else []
            else:
                lo, hi = d.low, d.high  # type: ignore[attr-defined]
                grid, ends = {round(x) for x in np.linspace(lo, hi, n_bins)}, []
            self.values.append(sorted(grid | _on_range(d, [*compared.get(d.name, ()), *ends])))
        self._index = [{repr(v): i for i, v in enumerate(vs)} for vs in self.values]

    def index(self, k: int, value: Any) -> int:
        i = self._index[k].get(repr(value))
        if i is not None:
            return i
        vs = self.values[k]  # an off-grid value (from a user or a mutation): nearest bin
        return int(np.argmin([abs(float(v) - float(value)) for v in vs]))

    def encode(self, arch: Mapping[str, Any]) -> list[tuple[int, int]]:
        """``(dimension position, value index)`` of every active dimension, in order."""
        return [
            (k, self.index(k, arch[d.name]))
            for k, d in enumerate(self.space.dims)
            if d.name in arch
        ]

    def active(self, d: Dim, partial: Mapping[str, Any]) -> bool:
        return d.when is None or d.when.holds(partial)


class _Adam:
    def __init__(self, lr: float) -> None:
        self.lr = lr

    def step(self, g: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        """One Adam step for one parameter array; moments live in ``state``."""
        state["t"] = state.get("t", 0) + 1
        state["m"] = 0.9 * state.get("m", 0.0) + 0.1 * g
        state["v"] = 0.999 * state.get("v", 0.0) + 0.001 * g * g
        mh = state["m"] / (1 - 0.9 ** state["t"])
        vh = state["v"] / (1 - 0.999 ** state["t"])
        return self.lr * mh / (np.sqrt(vh) + 1e-8)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@register_strategy("reinforce")
class Reinforce(Strategy):
    """Policy-gradient controller over the space's decisions.

    Args:
        lr: Adam step size on the logits.
        entropy: weight of the entropy bonus (keeps the policy from collapsing early).
        baseline_decay: decay of the moving-average reward baseline.
        autoregressive: condition each decision on the previous active decision's value.
        n_bins: bins for integer/float ranges too large to enumerate.
        bin_conditions: a binned range also offers the values other dimensions' conditions
            compare it with, and a float range its ends, so every condition can hold (before
            0.2.6 a condition such as ``width == 50`` could stay false in every proposal).
        init_policy: starting logits, one entry per dimension of the space: a list of one logit
            per value (used for every row) or, for ``autoregressive``, a table ``[row][value]``
            as :meth:`policy` exports it. Default: uniform.
    """

    draws_samples = False  # it draws from its policy

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        lr: float = 0.2,
        entropy: float = 0.01,
        baseline_decay: float = 0.8,
        autoregressive: bool = False,
        n_bins: int = 16,
        init_policy: Sequence[Any] | None = None,
        bin_conditions: bool = True,
    ) -> None:
        super().__init__(space, seed)
        if not (lr > 0 and entropy >= 0 and 0 <= baseline_decay < 1):
            raise UserInputError(
                "reinforce needs lr > 0, entropy >= 0 and 0 <= baseline_decay < 1; fix them."
            )
        self.lr, self.entropy, self.decay = lr, entropy, baseline_decay
        self.autoregressive = autoregressive
        self.dec = Decisions(space, n_bins, bin_conditions)
        n_prev = max(len(v) for v in self.dec.values) + 1 if autoregressive else 1
        # logits[k][row]: row = previous active decision's value index (n_prev - 1: none)
        self.logits = [np.zeros((n_prev, len(v))) for v in self.dec.values]
        self.init_policy = None if init_policy is None else _as_policy(init_policy, self.logits)
        if self.init_policy is not None:
            self.logits = [x.copy() for x in self.init_policy]
        self._opt = _Adam(lr)
        self._adam_state: list[dict[str, Any]] = [{} for _ in self.logits]
        self.baseline: float | None = None
        self._var = 0.0
        self._worst: float | None = None

    def policy(self) -> list[list[list[float]]]:
        """The current logits as plain numbers, ``[dimension][row][value]`` (one row unless
        ``autoregressive``); ``init_policy`` of a new controller accepts them back."""
        return [x.tolist() for x in self.logits]

    def _row(self, prev: int | None) -> int:
        return 0 if not self.autoregressive else (-1 if prev is None else prev)

    def _sample(self) -> dict[str, Any]:
        arch: dict[str, Any] = {}
        prev: int | None = None
        for k, d in enumerate(self.space.dims):
            if not self.dec.active(d, arch):
                continue
            p = _softmax(self.logits[k][self._row(prev)])
            i = min(int(np.searchsorted(np.cumsum(p), self.rng.random())), len(p) - 1)
            arch[d.name] = self.dec.values[k][i]
            prev = i
        return arch

    def _ask(self) -> dict[str, Any]:
        for _ in range(20):  # a repeat teaches nothing new: resample until unseen
            arch = self._sample()
            if self.space.is_valid(arch) and self.space.key(arch) not in self.seen:
                return arch
        return self.sample_unseen()

    def _tell(self, candidate: Candidate, result: Result) -> None:
        if result.value is None:
            if self._worst is None:
                return
            r = self._worst  # a failed architecture is as bad as the worst seen
        else:
            r = float(result.value)
            self._worst = r if self._worst is None else min(self._worst, r)
        if self.baseline is None:
            self.baseline = r
            return
        adv = r - self.baseline
        self._var = self.decay * self._var + (1 - self.decay) * adv * adv
        self.baseline = self.decay * self.baseline + (1 - self.decay) * r
        a = adv / (np.sqrt(self._var) + 1e-8)
        prev: int | None = None
        for k, i in self.dec.encode(candidate.arch):
            row = self._row(prev)
            p = _softmax(self.logits[k][row])
            g = -p.copy()
            g[i] += 1.0
            logp = np.log(p + 1e-12)
            h = -(p * logp).sum()
            g_ent = -p * (logp + h)  # gradient of the entropy w.r.t. the logits
            grad = np.zeros_like(self.logits[k])
            grad[row] = a * g + self.entropy * g_ent
            self.logits[k] += self._opt.step(grad, self._adam_state[k])
            prev = i


def _as_policy(policy: Sequence[Any], like: list[np.ndarray]) -> list[np.ndarray]:
    """``policy`` as logit tables shaped as ``like``; a 1-D entry fills every row."""
    if len(policy) != len(like):
        raise UserInputError(
            f"reinforce init_policy has {len(policy)} entries but the space has {len(like)} "
            "dimensions; give one list of logits per dimension."
        )
    out = []
    for k, (p, ref) in enumerate(zip(policy, like)):
        a = np.asarray(p, dtype=float)
        if a.ndim == 1 and a.shape[0] == ref.shape[1]:
            a = np.broadcast_to(a, ref.shape)
        if a.shape != ref.shape or not np.all(np.isfinite(a)):
            raise UserInputError(
                f"reinforce init_policy entry {k} has shape {a.shape}, expected {ref.shape[1]} "
                "finite logits (or a table of that width per row); export one with policy()."
            )
        out.append(np.array(a, dtype=float))
    return out
