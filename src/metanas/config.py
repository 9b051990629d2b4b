"""The search configuration (YAML): pydantic models, loading, and one-sentence error messages.

Example config (``metanas search my.yaml``)::

    study: fmnist
    seed: 0
    workers: 2               # two trials at once in a process pool (executor: inline|pool|ray)
    warm_start: true         # begin from this store's earlier studies of the same space
    space: {name: macro, params: {max_depth: 4}}
    strategy: {name: evolution, params: {population_size: 8, sample_size: 3}}
    data: {name: fashion_mnist, limit: 10000}
    training: {epochs: 1, batch_size: 128, lr: 0.002}
    budget: {n_trials: 8, timeout_minutes: 5}
    final: {epochs: 8, export_dir: fmnist-model}

Unknown keys are errors, so a misspelt setting never passes silently. Shipped configs live in
``metanas/configs/`` and can be named without a path (``metanas search fashion_mnist_quick``).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from metanas.types import MAX_THREADS, UserInputError, annotation_kinds

Optimizer = Literal["adam", "adamw", "sgd"]
Loss = Literal["ce", "bce"]
ExportFormat = Literal["state_dict", "torchscript", "onnx"]


def _all_formats() -> list[ExportFormat]:
    return ["state_dict", "torchscript", "onnx"]


class _Section(BaseModel):
    # a NaN or infinite number (.nan, .inf, 1e400) is a typo, never a setting
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_flag_as_number(cls, v: Any, info: ValidationInfo) -> Any:
        # pydantic reads `epochs: true` as 1; YAML's true is a flag, never a count
        if isinstance(v, bool) and info.field_name is not None:
            kinds = annotation_kinds(cls.model_fields[info.field_name].annotation)
            if bool not in kinds and kinds & {int, float}:
                raise PydanticCustomError("flag_as_number", "a number, not true or false")
        return v


class SpaceConfig(_Section):
    """Which registered space, with its parameters (``get_space(name, **params)``)."""

    name: str = "macro"
    params: dict[str, Any] = Field(default_factory=dict)


class ScreenConfig(_Section):
    """Zero-cost proxy screening: every random sample the strategy draws (its starts, restarts,
    random picks) is the proxy's favourite of ``candidates`` fresh samples, each scored on one
    ``batch_size`` batch of the search's training data (``metanas.strategies.ScreenedSpace``)."""

    proxy: str = "synflow"
    candidates: int = Field(default=100, gt=0)
    batch_size: int = Field(default=64, gt=1)


class OneShotConfig(_Section):
    """A gradient-based one-shot search (``metanas.oneshot.oneshot_search``) run once before the
    trials, on the search's data, in the NB201 space. Its op distributions become the
    ``most_probable`` strategy's ``probs``: the trials then train the most probable cells
    stand-alone. A resumed study keeps the distributions it stored and skips this step."""

    method: Literal["darts", "gdas"] = "darts"
    epochs: int = Field(default=10, gt=0)
    C: int = Field(default=8, gt=0)
    N: int = Field(default=1, gt=0)
    batch_size: int = Field(default=64, gt=1)
    warmup: float = Field(default=0.3, ge=0, lt=1)
    selection: Literal["logits", "perturbation"] = "perturbation"
    time_budget_minutes: float | None = Field(default=None, gt=0)


class StrategyConfig(_Section):
    """Which registered strategy, with its options, and optionally a proxy screen or a one-shot
    search that gives the strategy its distributions.

    ``start_from``: architectures (mappings of decisions to values, or their JSON) the search
    proposes first, e.g. a baseline network to improve on (see ``create_study``)."""

    name: str = "bananas"
    params: dict[str, Any] = Field(default_factory=dict)
    screen: ScreenConfig | None = None
    oneshot: OneShotConfig | None = None
    start_from: list[dict[str, Any] | str] = Field(default_factory=list)


class DataConfig(_Section):
    """The data set: a registered name, an optional stratified training subsample and the split."""

    name: str
    limit: int | None = Field(default=None, gt=0)
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    options: dict[str, Any] = Field(default_factory=dict)


class TrainingConfig(_Section):
    """How each candidate is trained during the search."""

    epochs: float = Field(default=1, gt=0)
    fraction: float = Field(default=1.0, gt=0, le=1)
    batch_size: int = Field(default=128, gt=0)
    optimizer: Optimizer = "adam"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    cosine: bool = True
    warmup_epochs: float = Field(default=0.0, ge=0)
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    augment: bool = False
    loss: Loss = "ce"
    time_limit: float | None = Field(default=None, gt=0)
    num_threads: int | None = Field(default=None, gt=0, le=MAX_THREADS)
    device: str = "auto"
    model_options: dict[str, Any] = Field(default_factory=dict)


class BudgetConfig(_Section):
    """How long the search runs: a trial count and an optional wall-clock cap."""

    n_trials: int = Field(default=10, gt=0)
    timeout_minutes: float | None = Field(default=None, gt=0)


class FinalConfig(_Section):
    """The final retraining of the best architecture on train + validation, and its export.

    Unset training settings (``None``) take the search's ``training`` values.
    """

    enabled: bool = True
    epochs: float = Field(default=5, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    optimizer: Optimizer | None = None
    lr: float | None = Field(default=None, gt=0)
    weight_decay: float | None = Field(default=None, ge=0)
    warmup_epochs: float | None = Field(default=None, ge=0)
    label_smoothing: float | None = Field(default=None, ge=0, lt=1)
    augment: bool | None = None
    #: test (and export) the mean prediction over flipped and shifted views; image data only
    tta: bool = False
    #: shorten ``epochs`` so the final training fits in this many minutes (judged from timed steps)
    time_budget_minutes: float | None = Field(default=None, gt=0)
    export_dir: str = Field(default="metanas-export", min_length=1)
    formats: list[ExportFormat] = Field(default_factory=_all_formats)


class SearchConfig(_Section):
    """A whole search: what to search, how, on which data, for how long, and the final model.

    Where trials run (``metanas search --executor/--workers/--address`` override these):

    - ``executor``: ``inline`` (in this process, one at a time), ``pool`` (local worker
      processes) or ``ray`` (``address`` names a running cluster; unset: a private local one).
      Unset (the default): ``inline`` when ``workers`` is 1 and no ``time_limit`` or
      ``memory_limit_mb`` is set, else ``pool`` (limits need a process that can be killed).
    - ``workers``: trials at once; ``auto`` is one per core (pool) or every CPU of the Ray
      cluster. Each worker trains with ``training.num_threads`` threads (default: cores / workers).
    - ``time_limit`` (seconds) and ``memory_limit_mb``: hard per-trial limits, enforced by
      killing the worker (pool; Ray: time only); ``training.time_limit`` is the trainer's own,
      softer stop between steps. ``max_retries``: re-runs of a trial whose worker died.

    ``warm_start``: ``true`` starts a new study from what the earlier studies of its own store
    learnt on the same space; a store path or URL reads them from there (see
    :func:`metanas.meta.hook.warm_start_strategy`). Ignored when resuming a study.
    """

    study: str | None = None
    storage: str = "metanas.db"
    seed: int = Field(default=0, ge=0)
    executor: Literal["inline", "pool", "ray"] | None = None
    workers: Annotated[int, Field(gt=0)] | Literal["auto"] = 1
    address: str | None = None
    time_limit: float | None = Field(default=None, gt=0)
    memory_limit_mb: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    warm_start: bool | Annotated[str, Field(min_length=1)] = False
    space: SpaceConfig = Field(default_factory=SpaceConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    data: DataConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    final: FinalConfig = Field(default_factory=FinalConfig)

    def final_training(self) -> dict[str, Any]:
        """Keyword arguments of :func:`metanas.evaluation.training.train_final`."""
        t, f = self.training, self.final
        pick = {k: getattr(f, k) for k in ("batch_size", "optimizer", "lr", "weight_decay",
                                          "warmup_epochs", "label_smoothing", "augment")}  # fmt: skip
        out = {k: (getattr(t, k) if v is None else v) for k, v in pick.items()}
        out.update(epochs=f.epochs, momentum=t.momentum, cosine=t.cosine, loss=t.loss,
                   num_threads=t.num_threads, device=t.device, model_options=dict(t.model_options),
                   seed=self.seed, tta=f.tta,
                   time_budget=None if f.time_budget_minutes is None else f.time_budget_minutes * 60)  # fmt: skip
        return out


# --------------------------------------------------------------------------- errors as sentences
def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _sentence(err: dict[str, Any]) -> str:
    """One pydantic error as one sentence naming the field and the fix."""
    field = _loc(err["loc"])
    kind = err["type"]
    if err["loc"] and err["loc"][0] in _UNION_FIELDS:  # pydantic names the union member tried
        field = str(err["loc"][0])
        return f"config field '{field}' must be {_UNION_FIELDS[field]} (got {err.get('input')!r})."
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if err["loc"][:2] == ("strategy", "start_from") and len(err["loc"]) > 2:
        field = _loc(err["loc"][:3])  # pydantic names the union member tried after the index
        return (
            f"config field '{field}' must be an architecture: a mapping of decisions to values, "
            f"or its JSON (got {got!r})."
        )
    if kind == "extra_forbidden":
        return f"config field '{field}' is not a known setting; remove it or fix its spelling."
    if kind == "missing":
        return f"config field '{field}' is required; add it."
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        is_int = isinstance(got, int) and not isinstance(got, bool)
        if kind == "greater_than" and ctx.get("gt") == 0:
            what = "a positive integer" if is_int and _int_field(err) else "positive"
            return f"config field '{field}' must be {what} (got {got!r})."
        op = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }[kind]
        bound = next(iter(ctx.values()), "?")
        bound = f"{bound:g}" if isinstance(bound, (int, float)) else bound
        return f"config field '{field}' must be {op} {bound} (got {got!r})."
    if kind == "literal_error":
        return f"config field '{field}' must be {ctx.get('expected', 'one of the allowed values')} (got {got!r})."
    if kind in ("int_parsing", "int_type", "int_from_float") or (
        kind == "flag_as_number" and _int_field(err)
    ):
        return f"config field '{field}' must be an integer (got {got!r})."
    if kind == "finite_number":
        return f"config field '{field}' must be a finite number (got {got!r})."
    if kind in ("string_type", "string_too_short"):
        return f"config field '{field}' must be a non-empty text (got {got!r})."
    if kind == "list_type":
        return f"config field '{field}' must be a list such as [a, b] (got {got!r})."
    if kind in ("float_parsing", "float_type", "flag_as_number"):
        return f"config field '{field}' must be a number (got {got!r})."
    if kind in ("bool_parsing", "bool_type"):
        return f"config field '{field}' must be true or false (got {got!r})."
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return (
            f"config field '{field or '(top level)'}' must be a mapping of settings (got {got!r})."
        )
    msg = err.get("msg", "is invalid").rstrip(".")
    return f"config field '{field}' is invalid: {msg[:1].lower()}{msg[1:]} (got {got!r})."


_INT_FIELDS = {"n_trials", "workers", "batch_size", "limit", "num_threads"}
_UNION_FIELDS = {
    "workers": "a positive integer or 'auto'",
    "warm_start": "true, false or a store path",
}


def _union_head(loc: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The location of the union field an error is about (one per field or list item), else None."""
    if loc and loc[0] in _UNION_FIELDS:
        return loc[:1]
    if loc[:2] == ("strategy", "start_from") and len(loc) > 2:
        return loc[:3]
    return None


def _int_field(err: dict[str, Any]) -> bool:
    return bool(err["loc"]) and str(err["loc"][-1]) in _INT_FIELDS


def parse_config(data: Any, source: str = "config") -> SearchConfig:
    """Validate a mapping as a :class:`SearchConfig`; raise :class:`UserInputError` on the first problem."""
    if not isinstance(data, dict):
        raise UserInputError(
            f"{source} must be a YAML mapping of sections (data, space, ...), got {type(data).__name__}."
        )
    try:
        return SearchConfig.model_validate(data)
    except ValidationError as e:
        errors, seen = [], set()
        for err in e.errors():  # a union field fails once per member: count it once
            head = _union_head(err["loc"])
            if head is None or head not in seen:
                errors.append(err)
                seen.add(head)
        more = f" ({len(errors) - 1} more problem(s) after it)" if len(errors) > 1 else ""
        raise UserInputError(_sentence(dict(errors[0])).rstrip(".") + more + ".") from None


# --------------------------------------------------------------------------- finding and reading files
def shipped_configs() -> list[str]:
    """Names of the configs shipped in ``metanas/configs``."""
    root = resources.files("metanas") / "configs"
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


def resolve_config_path(name: str | Path) -> Path:
    """A path as given when it exists, else a shipped config of that name."""
    path = Path(name)
    if path.is_file():
        return path
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    if path.parent == Path(".") and stem in shipped_configs():
        return Path(str(resources.files("metanas") / "configs" / f"{stem}.yaml"))
    raise UserInputError(
        f"config {str(name)!r} is neither a file nor a shipped config; "
        f"give a YAML path or one of {', '.join(shipped_configs())}."
    )


def _safe_load_unique(text: str) -> Any:
    """``yaml.safe_load``, but a key given twice in one mapping is an error, not "the last wins"."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in getattr(node, "value", []):
                if key_node.tag == "tag:yaml.org,2002:merge":  # <<: *anchor may be overridden
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    dup = key in seen
                except TypeError:  # an unhashable key: the base class names that problem
                    continue
                if dup:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    loader = Loader(text)
    try:
        node = loader.get_single_node()
        # written-out values are bounded by the text; only aliases multiply it
        limit = max(_MAX_YAML_VALUES, len(text))
        if node is not None and _expanded_size(node, limit) > limit:
            raise UserInputError(
                f"the config expands to more than {limit:,} values through its "
                "aliases (*name); write the values out, or use fewer aliases."
            )
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


#: values a config may expand to through YAML aliases, or its length if longer (nine nested
#: levels of ten aliases made 10^9)
_MAX_YAML_VALUES = 100_000


def _expanded_size(root: Any, limit: float) -> float:
    """How many values a YAML node graph holds once its aliases are expanded (a node an alias
    reuses counts each time; a cycle is infinite)."""
    sizes: dict[int, float] = {}
    pending: set[int] = set()

    def size(node: Any) -> float:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in pending:
            return math.inf
        pending.add(key)
        children: list[Any] = []
        if isinstance(node.value, list):
            for item in node.value:
                children.extend(item if isinstance(item, tuple) else (item,))
        total = 1.0
        for child in children:
            total += size(child)
            if total > limit:
                break
        pending.discard(key)
        sizes[key] = total
        return total

    return size(root)


def load_config(name: str | Path) -> SearchConfig:
    """Read and validate a YAML config file (or a shipped config by name)."""
    import yaml

    path = resolve_config_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserInputError(
            f"{path} is not a text file in UTF-8 (a store, a model, or text saved in another "
            "encoding?); give the YAML config, saved as UTF-8."
        ) from None
    except OSError as e:
        raise UserInputError(f"cannot read the config {path}: {e.strerror}.") from None
    try:
        data = _safe_load_unique(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise UserInputError(
            f"{path} is not valid YAML{where} ({problem}); fix the syntax there."
        ) from None
    return parse_config(data, source=str(path))


__all__ = [
    "BudgetConfig",
    "DataConfig",
    "FinalConfig",
    "SearchConfig",
    "SpaceConfig",
    "StrategyConfig",
    "TrainingConfig",
    "load_config",
    "parse_config",
    "resolve_config_path",
    "shipped_configs",
]
