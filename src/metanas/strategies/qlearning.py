"""Q-learning architecture search (MetaQNN, Baker et al. 2017), constructive or by edits.

**Constructive mode** (default). An episode builds one architecture decision by decision in the
space's order (conditional dimensions only when active). State = (decision position, value index
of the previous active decision); action = the value of this decision; the reward (the result's
value) comes at the end, with no discount. Actions are epsilon-greedy; epsilon is 1 for the first
``n_explore`` asks, then falls linearly to ``eps_end`` over ``decay_trials`` asks. After each result
``replay`` stored trajectories are replayed backwards with
``Q(s, a) <- (1 - lr) Q(s, a) + lr * (r if terminal else max_a' Q(s', a'))``. Unvisited entries
read as the mean reward so far.

**Edit mode** (``baseline=`` an architecture). State = the current network; actions = one-dimension
edits, i.e. ``space.neighbours(state)`` (in the macro space: depth +-1 adds or removes a layer,
flipping a skip, changing a unit type or width). The first ask evaluates the baseline. An episode
starts from the best network found so far (the baseline at first) and makes up to
``episode_length`` edits, each moving the state to the edited network. Reward = improvement of the
metric over the parent, divided by the running spread of results. ``Q(s, a) = w . phi(s, a)`` with
``phi = [f(child) - f(s), f(child), 1]`` (``f`` = ``space.features``), learned by semi-gradient
Q-learning (discount ``gamma``) over replayed transitions. Only edits to unseen networks are asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.strategies.base import Strategy, register_strategy
from metanas.strategies.reinforce import Decisions
from metanas.types import Candidate, Result, UserInputError

State = tuple[int, int]


@register_strategy("qlearning")
class QLearning(Strategy):
    """MetaQNN-style Q-learning; see the module docstring for both formulations.

    Args:
        baseline: an architecture to start editing from (edit mode); ``None`` for constructive mode.
        lr: Q-learning rate (0.01-0.1 in MetaQNN).
        eps_end, n_explore, decay_trials: the epsilon schedule.
        replay: stored trajectories (or transitions) replayed after every result.
        episode_length, gamma: edit mode only.
        n_bins, bin_conditions: how ranges too large to enumerate are binned (as for
            ``reinforce``).
    """

    draws_samples = False  # it builds or edits; see baseline

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        baseline: Mapping[str, Any] | None = None,
        lr: float = 0.3,
        eps_end: float = 0.1,
        n_explore: int = 10,
        decay_trials: int = 50,
        replay: int = 20,
        episode_length: int = 8,
        gamma: float = 0.5,
        n_bins: int = 16,
        bin_conditions: bool = True,
    ) -> None:
        super().__init__(space, seed)
        if not (
            0 < lr <= 1
            and 0 <= eps_end <= 1
            and 0 <= gamma <= 1
            and replay >= 1
            and episode_length >= 1
        ):
            raise UserInputError(
                "qlearning needs 0 < lr <= 1, 0 <= eps_end <= 1, 0 <= gamma <= 1, replay >= 1, "
                "episode_length >= 1; fix them."
            )
        self.baseline = None if baseline is None else space.validate(baseline)
        self.lr, self.eps_end, self.n_explore, self.decay_trials = (
            lr,
            eps_end,
            n_explore,
            decay_trials,
        )
        self.n_replay, self.episode_length, self.gamma = replay, episode_length, gamma
        self.dec = Decisions(space, n_bins, bin_conditions)
        self.q: dict[tuple[State, int], float] = {}
        self.memory: list[Any] = []
        self._rewards: list[float] = []
        self._reward_sum = 0.0
        # edit mode
        self.values: dict[str, float] = {}
        self._parents: dict[int, dict[str, Any]] = {}
        self._state: dict[str, Any] | None = None
        self._steps = 0
        self.w = np.zeros(2 * space.n_features + 1) if baseline is not None else None

    @property
    def epsilon(self) -> float:
        t = self.n_asked - self.n_explore
        if t < 0:
            return 1.0
        return max(self.eps_end, 1.0 - (1.0 - self.eps_end) * t / max(self.decay_trials, 1))

    def _ask(self) -> dict[str, Any]:
        if self.baseline is not None:
            return self._ask_edit()
        eps = self.epsilon
        for j in range(20):
            # a repeat teaches nothing: each retry explores a little more around the greedy path
            arch = self._construct(1.0 - (1.0 - eps) * 0.8**j)
            if self.space.is_valid(arch) and self.space.key(arch) not in self.seen:
                return arch
        return self.sample_unseen()

    def _tell(self, candidate: Candidate, result: Result) -> None:
        if self.baseline is not None:
            self._tell_edit(candidate, result)
            return
        if result.value is None:
            if not self._rewards:
                return
            r = min(self._rewards)
        else:
            r = float(result.value)
        self._rewards.append(r)
        self._reward_sum += r
        self.memory.append((self._trajectory(candidate.arch), r))
        picks = self.rng.integers(len(self.memory), size=self.n_replay - 1)
        for j in [len(self.memory) - 1, *map(int, picks)]:
            self._update(*self.memory[j])

    # ------------------------------------------------------------- constructive mode
    def _default_q(self) -> float:
        # a running sum: recomputing the mean per lookup made replay O(n) per step
        return self._reward_sum / len(self._rewards) if self._rewards else 0.0

    def _qrow(self, s: State, k: int) -> np.ndarray:
        d = self._default_q()
        return np.array([self.q.get((s, a), d) for a in range(len(self.dec.values[k]))])

    def _construct(self, eps: float) -> dict[str, Any]:
        arch: dict[str, Any] = {}
        prev = -1
        for k, d in enumerate(self.space.dims):
            if not self.dec.active(d, arch):
                continue
            n = len(self.dec.values[k])
            if self.rng.random() < eps:
                i = int(self.rng.integers(n))
            else:
                q = self._qrow((k, prev), k)
                i = int(self.rng.choice(np.flatnonzero(q >= q.max() - 1e-12)))
            arch[d.name] = self.dec.values[k][i]
            prev = i
        return arch

    def _trajectory(self, arch: Mapping[str, Any]) -> list[tuple[State, int, int]]:
        out, prev = [], -1
        for k, i in self.dec.encode(arch):
            out.append(((k, prev), i, k))
            prev = i
        return out

    def _update(self, traj: list[tuple[State, int, int]], r: float) -> None:
        d = self._default_q()
        for t in range(len(traj) - 1, -1, -1):
            s, a, _ = traj[t]
            if t == len(traj) - 1:
                target = r
            else:
                s2, _, k2 = traj[t + 1]
                target = float(self._qrow(s2, k2).max())
            old = self.q.get((s, a), d)
            self.q[(s, a)] = (1 - self.lr) * old + self.lr * target

    # ------------------------------------------------------------- edit mode
    def _phi(self, s: Mapping[str, Any], children: list[dict[str, Any]]) -> np.ndarray:
        fs = self.space.features(s)
        fc = np.stack([self.space.features(c) for c in children]).astype(np.float64)
        return np.hstack([fc - fs, fc, np.ones((len(children), 1))])

    def _scale(self) -> float:
        v = list(self.values.values())
        return float(np.std(v)) + 1e-8 if len(v) > 1 else 1.0

    def _ask_edit(self) -> dict[str, Any]:
        assert self.baseline is not None
        if self.n_asked == 0:
            return dict(self.baseline)
        for _ in range(10):
            if self._state is None or self._steps >= self.episode_length:
                best = max(self.values, key=self.values.__getitem__, default=None)
                self._state = (
                    self._archs.get(best, dict(self.baseline)) if best else dict(self.baseline)
                )
                self._steps = 0
            kids = [
                c
                for c in self.space.neighbours(self._state, self.rng)
                if self.space.key(c) not in self.seen
            ]
            if kids:
                break
            self._steps = self.episode_length  # a dead end: restart the episode
        else:
            return self.sample_unseen()
        if self.rng.random() < self.epsilon:
            i = int(self.rng.integers(len(kids)))
        else:
            i = int(np.argmax(self._phi(self._state, kids) @ self.w))
        self._parents[self.n_asked] = dict(self._state)
        return kids[i]

    @property
    def _archs(self) -> dict[str, dict[str, Any]]:
        return {c.key: dict(c.arch) for c, _ in self.history}

    def _tell_edit(self, candidate: Candidate, result: Result) -> None:
        if result.value is not None:
            self.values[candidate.key] = float(result.value)
        parent = self._parents.pop(candidate.id, None)
        if parent is None:
            return
        pv = self.values.get(self.space.key(parent))
        if pv is None:
            return
        v = float(result.value) if result.value is not None else min(self.values.values())
        child = dict(candidate.arch)
        nxt = self.space.neighbours(child, self.rng)
        phi_next = self._phi(child, nxt) if nxt else None
        self.memory.append((self._phi(parent, [child])[0], v - pv, phi_next))
        picks = self.rng.integers(len(self.memory), size=self.n_replay - 1)
        scale = self._scale()
        assert self.w is not None
        for j in [len(self.memory) - 1, *map(int, picks)]:
            phi, dv, pn = self.memory[j]
            target = dv / scale + (
                self.gamma * float((pn @ self.w).max()) if pn is not None else 0.0
            )
            self.w += self.lr * (target - float(phi @ self.w)) * phi / (1.0 + float(phi @ phi))
        if result.value is not None:  # the episode moves on to the edited network
            self._state = child
            self._steps += 1
