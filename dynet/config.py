"""Shared pieces of every model kind's scenario schema.

Each model kind declares its scenario (a pydantic model) in ``dynet/models/<kind>/config.py``
on top of :class:`ScenarioBase`; this module holds what several kinds share: the strict
base class, the sweep table, the binary data sources of the Boltzmann family, the
learning-rate schedule table, the helpers that estimate a run's memory, and the one
formatter of validation errors (``format_error``).
"""

from __future__ import annotations

import difflib
import itertools
import re
import types
import typing
from typing import Annotated, Any, Literal, Union

import typing_extensions
from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    # NaN and infinity are never a setting: they would pass comparisons like `t <= 0`
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, defer_build=True)


class Sweep(Strict):
    replicates: int = Field(1, ge=1, le=1_000_000, description="Independent runs per sweep point.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted key -> values; cartesian product.")
    zip: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted key -> values; varied together.")


class ScenarioBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Scenario name (letters, digits, _ . -).")
    description: str = ""
    seed: int = Field(ge=0, lt=2**63, description="Root seed; every run's streams derive from it.")
    sweep: Sweep = Field(default_factory=Sweep)

    def memory(self) -> list[tuple[float, str, str]]:
        """``(bytes, key, what)`` for the largest arrays a run of this scenario allocates, estimated
        from its settings; ``[]`` where the size is not known before the run (data from a file)."""
        return []


# --------------------------------------------------------------------------- binary data sources


class _RBMDataBase(Strict):
    validation: float = Field(
        0.2, ge=0, lt=1, description="Fraction of samples held out for validation (drawn from the run's seed)."
    )
    standardize: Literal["unit", "global", "none"] | None = Field(
        None,
        description="Gaussian visible units only: shift every unit to mean 0 on the training split and "
        "scale it to std 1 (unit, the default), or scale all units by one factor to mean variance 1 (global: "
        "keeps nearly constant units, such as the digits' border pixels, from blowing up), or neither (none).",
    )


class RBMDigitsData(_RBMDataBase):
    """The bundled 8x8 digits (1797 x 64), binarized: v = pixel / 16 > threshold (Bernoulli visible
    units), or the pixel intensities 0..16 (Gaussian visible units)."""

    source: Literal["digits"]
    threshold: float | None = Field(
        0.5, ge=0, lt=1, description="Pixel / 16 above this is 1 (Bernoulli visible units only)."
    )


class RBMBarsStripesData(_RBMDataBase):
    """Every distinct size x size bars-and-stripes image (2^(size+1) - 2 of them)."""

    source: Literal["bars-stripes"]
    size: int = Field(4, ge=2, le=8, description="Image side; 4 gives the classic 30 patterns of 16 pixels.")
    validation: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Fraction held out (default none: the exact log-likelihood of the whole set is the point).",
    )


class RBMFileData(_RBMDataBase):
    """User data: a .npy/.npz array (samples x visible) of 0/1 (or bool), or binarized by threshold;
    any finite real values for Gaussian visible units."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name inside a .npz (default: its only array).")
    threshold: float | None = Field(
        None, description="Binarize: values above it are 1 (default: values must already be 0 or 1)."
    )


class RBMIrisData(_RBMDataBase):
    """The bundled iris measurements (150 x 4, real-valued: Gaussian visible units only)."""

    source: Literal["iris"]


RBMData = Annotated[RBMDigitsData | RBMBarsStripesData | RBMFileData | RBMIrisData, Field(discriminator="source")]


# --------------------------------------------------------------------------- learning-rate schedules

from dynet.train.schedules import ConstantSchedule as default_schedule  # noqa: E402,F401 (the schedule tables' default)
from dynet.train.schedules import ScheduleConfig, ScheduleParams  # noqa: E402

#: A schedule table: one of dynet.train.schedules.SCHEDULES by ``name`` (default constant); ``lr``
#: defaults to ``training.lr`` (the optimizer's for feedforward networks).
RBMSchedule = ScheduleConfig


def check_schedule(schedule: ScheduleParams, lr: float, *, no_plateau: str | None = None) -> dict:
    """Check a validated schedule table against its model (``no_plateau`` names a model with no loss
    for reduce-on-plateau to watch); return its spec, ``name`` and the parameters given, ``lr``
    defaulting to ``lr``."""
    from dynet.train import schedules

    sched = {"name": schedule.name, **{k: getattr(schedule, k) for k in schedule.model_fields_set if k != "per"}}
    if no_plateau and sched["name"] == "plateau":
        raise ValueError(
            f"schedule.name: 'plateau' is not available for {no_plateau} (no loss to watch); use a fixed schedule"
        )
    if "lr" in type(schedule).model_fields and sched.get("lr") is None:
        sched["lr"] = lr
    problems = schedules.validate_schedule(sched)
    if problems:
        raise ValueError("; ".join("schedule." + p for p in problems))
    return sched


# --------------------------------------------------------------------------- memory
# --------------------------------------------------------------------------- memory

#: The most memory one run may need (its largest arrays, estimated from its settings before
#: anything is allocated: validation refuses a run that would not fit a worker).
MAX_RUN_BYTES = 4 * 2**30


def data_shape(data: BaseModel) -> tuple[int, int, int] | None:
    """(rows, input columns, output width) of a data table without loading it; None for a user
    file (its own size bounds it)."""
    src = data.source
    if src == "digits":
        return 1797, 64, 10
    if src == "iris":
        return 150, 4, 3
    if src == "bars-stripes":
        return 2 ** (data.size + 1) - 2, data.size**2, 1
    if src == "xor":
        return data.n_samples, 2, 2
    if src == "parity":
        return data.n_samples or 2**data.n_bits, data.n_bits, 2
    if src == "blobs":
        return data.n_samples, data.n_features, data.n_classes
    if src == "spirals":
        return data.n_samples, 2, data.n_classes
    if src == "linear":
        return data.n_samples, 2, 1
    if src == "moons":
        return data.n_samples, 2, 2
    return None


def dense_memory(widths: list[int], rows: int, batch: int, key: str) -> list[tuple[float, str, str]]:
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    # parameters, gradients, optimizer state, best and initial copies (float32); activations of
    # a whole split in evaluation and of a batch in training
    return [
        (32 * params, key, f"{params:,} parameters"),
        (12 * (rows + batch) * sum(widths), key, f"activations of {rows:,} rows through layers {widths}"),
    ]


def rbm_layers_memory(nv: int, hidden: list[int], rows: int, chains: int, key: str) -> list[tuple[float, str, str]]:
    layers = [nv, *hidden]
    weights = sum(a * b for a, b in itertools.pairwise(layers))
    return [
        (48 * weights, key, f"weights of layers {layers}"),
        (32 * rows * sum(layers), key, f"{rows:,} rows through layers {layers}"),
        (24 * chains * sum(layers), key, f"{chains:,} chains of {sum(layers):,} units"),
    ]


# --------------------------------------------------------------------------- errors


def model_classes(annotation) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation admits (through Optional/Union/Annotated/type aliases)."""
    if isinstance(annotation, typing_extensions.TypeAliasType):
        return model_classes(annotation.__value__)
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return model_classes(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [c for a in typing.get_args(annotation) for c in model_classes(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _tag(cls: type[BaseModel]) -> str | None:
    for name in ("source", "kind", "model", "name"):
        f = cls.model_fields.get(name)
        if f is not None and typing.get_origin(f.annotation) is Literal:
            return typing.get_args(f.annotation)[0]
    return None


def _walk(cls: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, list[str]]:
    """Follow a pydantic error location to the model it points into; strip union tags from the path."""
    path = []
    i = 0
    while i < len(loc) - 1:
        name = loc[i]
        f = cls.model_fields.get(name) if isinstance(name, str) else None
        if f is None:
            return None, path + [str(x) for x in loc[i:-1]]
        path.append(name)
        classes = model_classes(f.annotation)
        if not classes:
            return None, path + [str(x) for x in loc[i + 1 : -1]]
        if len(classes) > 1:
            tagged = {_tag(c): c for c in classes}
            if i + 1 < len(loc) - 1 and loc[i + 1] in tagged:
                cls = tagged[loc[i + 1]]
                i += 2
                continue
        cls = classes[0]
        i += 1
    return cls, path


def format_error(cls: type[BaseModel], err: dict) -> str:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        parent, path = _walk(cls, loc)
        key = str(loc[-1])
        where = ".".join(path + [key])
        allowed = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else (f" (allowed: {', '.join(allowed)})" if allowed else "")
        return f"{where}: unknown key{hint}"
    parent, path = _walk(cls, loc + ("",))
    where = ".".join(str(p) for p in path) or "(top level)"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "union_tag_invalid":
        # "data.source: unknown 'digts' (known: 'digits', ...) (did you mean 'digits'?)"
        ctx = err.get("ctx") or {}
        key = str(ctx.get("discriminator", "")).strip("'").removesuffix("()")
        known = str(ctx.get("expected_tags"))
        close = difflib.get_close_matches(str(ctx.get("tag")), re.findall(r"'([^']*)'", known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where}.{key}: unknown {ctx.get('tag')!r} (known: {known}){hint}" if key else f"{where}: {msg}"
    if err["type"] == "value_error":
        # validators that check a table against a spec name the key inside it: "lr: must be > 0"
        if msg.startswith(where + ": ") or msg.startswith(where + "."):
            return msg
        key = re.match(r"^([A-Za-z_][\w\[\]]*(?:\.[\w\[\]]+)*): ", msg)
        if key:
            return msg if where == "(top level)" else f"{where}.{msg}"
        return f"{where}: {msg}"
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    inp = err.get("input")
    got = "" if isinstance(inp, dict) else f" (got {inp!r})"
    if err["type"] == "literal_error" and isinstance(inp, str):
        close = difflib.get_close_matches(
            inp, re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected"))), n=1
        )
        got += f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: {msg[0].lower() + msg[1:]}{got}"
