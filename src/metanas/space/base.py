"""The search space: a list of (possibly conditional) dimensions plus an optional validity constraint
and canonical key. Architectures are plain dicts ``{dim name: value}`` holding active dimensions only.

Specialised spaces (NAS-Bench-201, NAS-Bench-101, ...) subclass :class:`Space` and override
:meth:`Space.is_valid`, :meth:`Space.key` or :meth:`Space.features`; strategies see only this API.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections import Counter
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from metanas.space.dims import Choice, Condition, Dim, FloatRange, dim_from_dict
from metanas.types import UserInputError

_MAX_TRIES = 10_000
_MAX_ENUMERATE = 1_000_000


def _check_condition(dim: Dim, parent: Dim) -> None:
    """Refuse a condition that cannot compare the values of the dimension it reads."""
    cond = dim.when
    assert cond is not None
    values: Sequence[Any] = ()
    whole = False
    if parent.cardinality is not None:
        values = parent.values()
        whole = len(values) <= 100 or isinstance(parent, Choice)  # a choice's own list, in full
        if not whole:  # a long integer range: its two ends
            values = (values[0], values[-1])
    elif isinstance(parent, FloatRange):  # its two ends
        values = (parent.low, parent.high)
    held = False
    for v in values:
        try:
            held = cond.holds({cond.dim: v}) or held
        except TypeError:
            raise UserInputError(
                f"dimension {dim.name!r}'s condition {cond.dim} {cond.op} {cond.value!r} cannot "
                f"compare {cond.dim}'s value {v!r}; compare it with a value of its own kind."
            ) from None
    # an ordered comparison that fails at both ends of a range fails everywhere between them
    if not held and (whole or cond.op in ("<", "<=", ">", ">=")):
        raise UserInputError(
            f"dimension {dim.name!r}'s condition {cond.dim} {cond.op} {cond.value!r} never "
            f"holds for {cond.dim}'s values, so {dim.name!r} could never be chosen; change the "
            "condition or drop the dimension."
        )


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A generator from a seed, a generator or ``None`` (fresh entropy); a bad seed is one
    sentence, not numpy's error."""
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError):
        raise UserInputError(
            f"a seed must be an integer >= 0, a numpy Generator or None, got {rng!r}."
        ) from None


class Space:
    """A search space over dimensions ``dims``.

    Example:
        >>> from metanas.space import Space, Choice, IntRange, Condition
        >>> s = Space([IntRange("depth", 1, 3), Choice("w3", (16, 32), when=Condition("depth", ">=", 3))])
        >>> arch = s.sample(0)
        >>> s.from_json(s.to_json(arch)) == arch
        True
    """

    #: registry name of the space type (``"generic"`` for user-built spaces)
    kind: str = "generic"

    def __init__(self, dims: Sequence[Dim], name: str = "space") -> None:
        if isinstance(dims, Dim):  # one dimension given without its list
            dims = [dims]
        if not isinstance(dims, Iterable) or isinstance(dims, (str, Mapping)):
            raise UserInputError(
                f"space {name!r} takes a list of dimensions, got {dims!r}; e.g. "
                "Space([IntRange('depth', 1, 3), Choice('op', ('conv', 'pool'))])."
            )
        self.dims: tuple[Dim, ...] = tuple(dims)
        self.name = name
        for d in self.dims:
            if not isinstance(d, Dim):
                raise UserInputError(
                    f"space {name!r} got {d!r} as a dimension; use Choice, IntRange or FloatRange."
                )
        if not self.dims:
            raise UserInputError(f"space {name!r} has no dimensions; add at least one.")
        names = [d.name for d in self.dims]
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        if dupes:
            raise UserInputError(f"space {name!r} names dimension(s) {dupes} twice; rename them.")
        self._by_name = {d.name: d for d in self.dims}
        position = {n: i for i, n in enumerate(names)}
        for d in self.dims:
            if d.when is None:
                continue
            if not isinstance(d.when, Condition):
                raise UserInputError(
                    f"dimension {d.name!r} has when={d.when!r}; give a Condition, e.g. "
                    "when=Condition('depth', '>=', 2)."
                )
            if d.when.dim not in self._by_name:
                raise UserInputError(
                    f"dimension {d.name!r} depends on unknown dimension {d.when.dim!r}; define it first."
                )
            if d.when.dim == d.name:
                raise UserInputError(
                    f"dimension {d.name!r} depends on itself, so it never exists; make its "
                    "condition name an earlier dimension."
                )
            if position[d.when.dim] > position[d.name]:
                raise UserInputError(
                    f"dimension {d.name!r} depends on {d.when.dim!r}, which comes after it; reorder them."
                )
            _check_condition(d, self._by_name[d.when.dim])

    # ----------------------------------------------------------------- structure
    def dim(self, name: str) -> Dim:
        try:
            return self._by_name[name]
        except KeyError:
            raise UserInputError(f"space {self.name!r} has no dimension {name!r}.") from None

    def active(self, arch: Mapping[str, Any]) -> list[Dim]:
        """Dimensions that exist for ``arch`` (conditions checked in order)."""
        return [d for d in self.dims if d.when is None or d.when.holds(arch)]

    def is_valid(self, arch: Mapping[str, Any]) -> bool:
        """Extra structural validity beyond per-dimension checks (override in subclasses)."""
        return True

    # ----------------------------------------------------------------- sampling
    def _fill(self, arch: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Drop dimensions whose condition fails; sample the active ones that are missing."""
        out: dict[str, Any] = {}
        for d in self.dims:
            if d.when is not None and not d.when.holds(out):
                continue
            out[d.name] = arch[d.name] if d.name in arch else d.sample(rng)
        return out

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        rng = as_rng(rng)
        for _ in range(_MAX_TRIES):
            arch = self._fill({}, rng)
            if self.is_valid(arch):
                return arch
        raise UserInputError(
            f"space {self.name!r} yielded no valid architecture in {_MAX_TRIES} samples; "
            "its constraints may contradict each other."
        )

    def sample_unseen(
        self, rng: np.random.Generator | int | None, seen: Container[str]
    ) -> dict[str, Any]:
        """A sample, preferring keys not in ``seen``; here a plain :meth:`sample` (its caller
        redraws repeats), while a wrapper that picks among draws (a proxy screen) picks among
        the unseen ones."""
        return self.sample(rng)

    def mutate(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> dict[str, Any]:
        """Change one active dimension (conditional dimensions appear or vanish accordingly)."""
        rng = as_rng(rng)
        active = [d for d in self.active(arch) if d.cardinality != 1]
        if not active:
            return dict(arch)
        for _ in range(_MAX_TRIES):
            d = active[int(rng.integers(len(active)))]
            child = dict(arch)
            child[d.name] = d.perturb(arch[d.name], rng)
            child = self._fill(child, rng)
            if child != arch and self.is_valid(child):
                return child
        return dict(arch)

    def with_value(
        self,
        arch: Mapping[str, Any],
        name: str,
        value: Any,
        rng: np.random.Generator | int | None = None,
    ) -> dict[str, Any] | None:
        """``arch`` with dimension ``name`` set to ``value``, or ``None`` if that is not valid.

        Dimensions the change activates are sampled; those it deactivates are dropped.
        """
        try:
            value = self.dim(name).validate(value)
        except UserInputError:
            return None
        child = self._fill({**arch, name: value}, as_rng(rng))
        return child if self.is_valid(child) else None

    def neighbours(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> list[dict[str, Any]]:
        """All valid architectures one dimension away, in a deterministic order.

        Newly activated conditional dimensions take their first value unless ``rng`` is given.
        """
        gen = as_rng(rng) if rng is not None else None
        out = []
        for d in self.active(arch):
            for v in d.neighbours(arch[d.name]):
                child = dict(arch)
                child[d.name] = v
                child = self._fill_first(child) if gen is None else self._fill(child, gen)
                if self.is_valid(child):
                    out.append(child)
        return out

    def _fill_first(self, arch: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in self.dims:
            if d.when is not None and not d.when.holds(out):
                continue
            out[d.name] = arch[d.name] if d.name in arch else d.first()
        return out

    # ----------------------------------------------------------------- enumeration
    @property
    def size(self) -> int | None:
        """Number of valid architectures when finite and cheap to count, else ``None``."""
        if any(d.cardinality is None for d in self.dims):
            return None
        # upper bound (an absent conditional dimension counts as one more value): beyond it,
        # enumerating would take minutes, so the count is not cheap
        bound = 1
        for d in self.dims:
            bound *= (d.cardinality or 0) + (1 if d.when is not None else 0)
        if bound > _MAX_ENUMERATE:
            return None
        return sum(1 for _ in self.enumerate())

    def enumerate(self) -> Iterator[dict[str, Any]]:
        """Every valid architecture, in a fixed order (for grid search)."""

        def rec(i: int, partial: dict[str, Any]) -> Iterator[dict[str, Any]]:
            if i == len(self.dims):
                if self.is_valid(partial):
                    yield dict(partial)
                return
            d = self.dims[i]
            if d.when is not None and not d.when.holds(partial):
                yield from rec(i + 1, partial)
                return
            for v in d.values():
                partial[d.name] = v
                yield from rec(i + 1, partial)
            del partial[d.name]

        yield from rec(0, {})

    # ----------------------------------------------------------------- identity and I/O
    def restore(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """``arch`` as read back from JSON (a store) with each choice's own option objects:
        a tuple option comes back a list. Values that are no option stay as they are."""
        out = dict(arch)
        for d in self.dims:
            if isinstance(d, Choice) and isinstance(out.get(d.name), list):
                with contextlib.suppress(UserInputError):
                    out[d.name] = d.validate(out[d.name])
        return out

    def validate(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``arch`` and return it normalised; raise :class:`UserInputError` naming the problem."""
        if not isinstance(arch, Mapping):
            raise UserInputError(
                f"an architecture must be a mapping of dimension names to values, got {type(arch).__name__}."
            )
        out: dict[str, Any] = {}
        for d in self.dims:
            if d.when is not None and not d.when.holds(out):
                continue
            if d.name not in arch:
                raise UserInputError(
                    f"architecture lacks dimension {d.name!r} of space {self.name!r}; add it."
                )
            out[d.name] = d.validate(arch[d.name])
        extra = sorted(set(arch) - set(out))
        if extra:
            raise UserInputError(
                f"architecture has dimension(s) {extra} that {self.name!r} does not use here; remove them."
            )
        if not self.is_valid(out):
            raise UserInputError(
                f"architecture is not valid in space {self.name!r}: {self.describe(out)}."
            )
        return out

    def key(self, arch: Mapping[str, Any]) -> str:
        """Canonical identity: architectures computing the same function share a key."""
        return json.dumps({k: arch[k] for k in sorted(arch)}, separators=(",", ":"))

    def describe(self, arch: Mapping[str, Any]) -> str:
        """Short human-readable form (the benchmark string where there is one)."""
        return ", ".join(f"{k}={v}" for k, v in arch.items())

    def to_json(self, arch: Mapping[str, Any]) -> str:
        return json.dumps(dict(arch), separators=(",", ":"))

    def from_json(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserInputError(
                f"architecture JSON is malformed ({e.msg} at char {e.pos}); fix the text."
            ) from None
        return self.validate(data)

    def from_text(self, text: str) -> dict[str, Any]:
        """An architecture from what a user writes: JSON here; a space with a notation of its
        own (NAS-Bench-201's ``|op~0|+...`` string, NAS-Bench-101's ``OPS_CODE:ADJ_BITS``) also
        reads that."""
        return self.from_json(text)

    # ----------------------------------------------------------------- encodings for learners
    def features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """Fixed-length numeric encoding for learners; spaces with structure add to
        :meth:`decision_features` (NAS-Bench-201 and -101: path indicators)."""
        return self.decision_features(arch)

    def decision_features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """One entry per decision: one-hot choices, scaled ranges; inactive dims all-zero."""
        vec: list[float] = []
        for d in self.dims:
            if d.name in arch:
                vec.extend(d.encode(arch[d.name]))
                if d.when is not None:
                    vec.append(1.0)
            else:
                vec.extend([0.0] * d.width)
                vec.append(0.0)
        return np.asarray(vec, dtype=np.float32)

    @property
    def n_features(self) -> int:
        return sum(d.width + (1 if d.when is not None else 0) for d in self.dims)

    def count_features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """How often each option is chosen among choices that offer the same options.

        Such choices form a group (NAS-Bench-201's six edges, a chain's per-layer units or
        widths). For each group, option and ``k`` from 1 to the group's size, one entry is 1
        when at least ``k`` of the group's active choices took that option. A learner on these
        shares what it sees of an option across its group ("one more 3x3 convolution helps"),
        where one-hot decisions learn it edge by edge: the zeroth iteration of the
        Weisfeiler-Lehman features of NASBOWL (Ru et al. 2021). Empty when no two choices offer
        the same options."""
        vec = np.zeros(self.n_count_features, dtype=np.float32)
        offset = 0
        for group in self._count_groups:
            n = len(group)
            counts = np.zeros(group[0].width, dtype=int)
            for d in group:
                if d.name in arch:
                    counts[d.index(arch[d.name])] += 1  # type: ignore[attr-defined]
            for j, c in enumerate(counts):
                vec[offset + j * n : offset + j * n + c] = 1.0
            offset += n * len(counts)
        return vec

    @property
    def n_count_features(self) -> int:
        return sum(len(g) * g[0].width for g in self._count_groups)

    @functools.cached_property
    def _count_groups(self) -> list[list[Dim]]:
        """Choices grouped by their options, in order; groups of one are left out."""
        groups: dict[str, list[Dim]] = {}
        for d in self.dims:
            if isinstance(d, Choice) and len(d.options) > 1:
                groups.setdefault(json.dumps(list(d.options), default=repr), []).append(d)
        return [g for g in groups.values() if len(g) > 1]

    # ----------------------------------------------------------------- persistence of the space itself
    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "dims": [d.to_dict() for d in self.dims]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Space:
        """Inverse of :meth:`to_dict`; registered kinds are rebuilt by their factory."""
        if d.get("kind", "generic") != "generic":
            from metanas.space.registry import space_from_dict  # registry imports this module

            return space_from_dict(d)
        return Space([dim_from_dict(x) for x in d["dims"]], name=d.get("name", "space"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dims={len(self.dims)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))


def product_size(dims: Sequence[Dim]) -> int:
    """Size of an unconditional product of finite dimensions."""
    return int(np.prod([d.cardinality or 0 for d in dims]))


__all__ = ["Space", "product_size"]
