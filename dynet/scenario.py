"""Scenario files: schema, validation, sweep expansion, seeds and run ids.

A scenario is a TOML file, validated in full before anything runs or is written.
The schema is declared once as pydantic models (one per model family, chosen by the
top-level ``model`` key); errors come back as :class:`ScenarioError`, one line per
problem, each naming the file, the key path and what is allowed.

Sweeps: ``[sweep]`` takes ``replicates``, a ``grid`` (cartesian product over dotted
key paths) and a ``zip`` (lists of equal length varied together). Every sweep point
is applied to the base scenario and validated as a whole.

Seeds and ids: a run's config is the resolved scenario without ``name``,
``description`` and ``sweep``. Its run id is a hash of that config and the replicate
number; its random streams come from ``SeedSequence(seed, spawn_key=(point_key,
replicate))`` where ``point_key`` is a hash of the config. A run's numbers thus
depend only on what it is, not on sweep order, worker count or placement.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ScenarioError(Exception):
    """A scenario file is invalid; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --------------------------------------------------------------------------- Hopfield

class HopfieldNetwork(_Strict):
    """The network: size, learning rule, thresholds."""

    n_units: int | None = Field(None, ge=2, le=65536, description="Number of units N; required for random patterns, "
                                "inferred from images and files.")
    rule: Literal["hebbian", "storkey", "pseudoinverse"] = Field(
        "hebbian", description="Learning rule: Hebbian (1/N sum xi xi^T), Storkey (1997) or pseudo-inverse (projection).")
    threshold: float = Field(0.0, description="Threshold theta of every unit; E = -1/2 s^T W s + theta^T s.")


class RandomPatterns(_Strict):
    """Random +-1 patterns, optionally biased."""

    source: Literal["random"]
    count: int | None = Field(None, ge=1, le=65536, description="Number of patterns P (give count or load).")
    load: float | None = Field(None, gt=0, le=4, description="Load alpha = P/N; P = round(alpha * N).")
    bias: float = Field(0.0, gt=-1, lt=1, description="Mean activity a: P(xi = +1) = (1 + a) / 2.")

    @model_validator(mode="after")
    def _count_or_load(self):
        if (self.count is None) == (self.load is None):
            raise ValueError("give exactly one of 'count' and 'load'")
        return self


class ImagePatterns(_Strict):
    """Binarized images from a dataset bundled with dynet."""

    source: Literal["images"]
    dataset: Literal["digits"] = Field("digits", description="digits: 8x8 handwritten digits (UCI, CC BY 4.0), N = 64.")
    count: int = Field(10, ge=1, le=10, description="Store the mean images of digits 0 .. count-1, binarized.")


class FilePatterns(_Strict):
    """Patterns from a .npy/.npz file: shape (P, N), values in {-1, +1} or {0, 1}."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name inside a .npz (default: its only array).")


HopfieldPatterns = Annotated[Union[RandomPatterns, ImagePatterns, FilePatterns], Field(discriminator="source")]


class FlipInit(_Strict):
    """Start from stored pattern ``pattern`` with ``round(fraction * N)`` bits flipped."""

    kind: Literal["flip"]
    pattern: int = Field(0, ge=0, description="Index of the cued pattern.")
    fraction: float = Field(0.1, ge=0, le=1, description="Fraction of bits flipped, chosen at random.")


class MaskInit(_Strict):
    """Start from stored pattern ``pattern`` with a part of it masked."""

    kind: Literal["mask"]
    pattern: int = Field(0, ge=0, description="Index of the cued pattern.")
    fraction: float = Field(0.25, ge=0, le=1, description="Fraction of units masked.")
    region: Literal["tail", "head", "random"] = Field("tail", description="Which units: the last, the first, or random.")
    fill: Literal["random", "negative", "positive"] = Field("random", description="What masked units are set to.")


class RandomInit(_Strict):
    """Start from a random state, P(s_i = +1) = (1 + bias) / 2."""

    kind: Literal["random"]
    bias: float = Field(0.0, gt=-1, lt=1)


HopfieldInit = Annotated[Union[FlipInit, MaskInit, RandomInit], Field(discriminator="kind")]


class Anneal(_Strict):
    """Temperature schedule from t_start to t_end over ``sweeps`` sweeps, then ``t_after``."""

    schedule: Literal["linear", "geometric"]
    t_start: float = Field(gt=0)
    t_end: float = Field(ge=0)
    sweeps: int | None = Field(None, ge=1, description="Length of the schedule (default: max_sweeps).")
    t_after: float | None = Field(None, ge=0, description="Temperature after the schedule (default: t_end); "
                                  "0 lets the network settle into a fixed point.")

    @model_validator(mode="after")
    def _geometric_positive(self):
        if self.schedule == "geometric" and self.t_end <= 0:
            raise ValueError("a geometric schedule needs t_end > 0")
        return self


class HopfieldDynamics(_Strict):
    update: Literal["synchronous", "async-permutation", "async-sequential", "async-random"] = Field(
        "async-permutation", description="Synchronous, or asynchronous in a fresh random permutation per sweep, "
        "in fixed sequential order, or random with replacement.")
    temperature: float = Field(0.0, ge=0, description="Glauber temperature T; 0 is deterministic.")
    anneal: Anneal | None = None
    max_sweeps: int = Field(100, ge=1, le=10_000_000)
    stop_at_fixed_point: bool = Field(True, description="Stop at a fixed point (or a synchronous 2-cycle) at T = 0.")

    @model_validator(mode="after")
    def _one_temperature(self):
        if self.anneal is not None and self.temperature != 0:
            raise ValueError("give either 'temperature' or 'anneal', not both")
        return self


class HopfieldRecord(_Strict):
    every: int = Field(1, ge=1, description="Record every k sweeps (and the last sweep).")
    state: bool = Field(True, description="Record the state (int8) at each recorded sweep.")
    overlaps: bool = Field(True, description="Record the overlap with every stored pattern.")
    weights: bool = Field(False, description="Store the weight matrix (N^2 values per run).")


class Sweep(_Strict):
    replicates: int = Field(1, ge=1, le=1_000_000, description="Independent runs per sweep point.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted key -> values; cartesian product.")
    zip: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted key -> values; varied together.")


class _ScenarioBase(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Scenario name (letters, digits, _ . -).")
    description: str = ""
    seed: int = Field(ge=0, lt=2**63, description="Root seed; every run's streams derive from it.")
    sweep: Sweep = Field(default_factory=Sweep)


class HopfieldScenario(_ScenarioBase):
    """A Hopfield network recalling stored patterns."""

    model: Literal["hopfield"]
    network: HopfieldNetwork = Field(default_factory=HopfieldNetwork)
    patterns: HopfieldPatterns
    init: HopfieldInit
    dynamics: HopfieldDynamics = Field(default_factory=HopfieldDynamics)
    record: HopfieldRecord = Field(default_factory=HopfieldRecord)

    @model_validator(mode="after")
    def _sizes(self):
        p = self.patterns
        if isinstance(p, RandomPatterns):
            if self.network.n_units is None:
                raise ValueError("network.n_units is required with random patterns")
            n_pat = p.count if p.count is not None else round(p.load * self.network.n_units)
            if n_pat < 1:
                raise ValueError(f"patterns.load {p.load} gives no pattern at N = {self.network.n_units}")
            if getattr(self.init, "pattern", 0) >= n_pat:
                raise ValueError(f"init.pattern {self.init.pattern} is out of range for {n_pat} patterns")
        return self


SCENARIO_MODELS: dict[str, type[_ScenarioBase]] = {"hopfield": HopfieldScenario}


# --------------------------------------------------------------------------- errors

def _model_classes(annotation) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation admits (through Optional/Union/Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_classes(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [c for a in typing.get_args(annotation) for c in _model_classes(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _tag(cls: type[BaseModel]) -> str | None:
    for name in ("source", "kind", "model"):
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
        classes = _model_classes(f.annotation)
        if not classes:
            return None, path + [str(x) for x in loc[i + 1:-1]]
        if len(classes) > 1:
            tagged = {_tag(c): c for c in classes}
            if i + 1 < len(loc) - 1 and loc[i + 1] in tagged:
                cls = tagged[loc[i + 1]]
                i += 2
                continue
        cls = classes[0]
        i += 1
    return cls, path


def _format_error(cls: type[BaseModel], err: dict) -> str:
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
        msg = msg[len("Value error, "):]
    if err["type"] == "union_tag_invalid":
        return f"{where}: {msg}"
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    inp = err.get("input")
    got = "" if isinstance(inp, dict) else f" (got {inp!r})"
    return f"{where}: {msg[0].lower() + msg[1:]}{got}"


# --------------------------------------------------------------------------- loading

def _dotted_fields(cls: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in cls.model_fields.items():
        if name == "sweep":
            continue
        out.append(prefix + name)
        for sub in _model_classes(f.annotation):
            out.extend(_dotted_fields(sub, prefix + name + "."))
    return sorted(set(out))


def _set_path(doc: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = doc
    for k in keys[:-1]:
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        if not isinstance(nxt, dict):
            raise KeyError(dotted)
        node = nxt
    node[keys[-1]] = value


def _validate_doc(cls, doc: dict, where: str, context: str = "") -> BaseModel:
    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioError([f"{where}: {context}{_format_error(cls, e)}" for e in exc.errors()]) from None


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to run (and store) one run."""

    run_id: str
    model: str
    scenario: str
    config: dict  # resolved scenario without name/description/sweep
    params: dict  # the sweep point: dotted key -> value
    replicate: int
    seed: dict  # {"entropy": int, "spawn_key": [point_key, replicate]}
    base_dir: str  # the scenario file's folder, for relative data paths

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed["entropy"], spawn_key=tuple(self.seed["spawn_key"]))


@dataclass
class Scenario:
    path: str
    name: str
    model: str
    raw: dict
    runs: list[RunSpec] = field(default_factory=list)
    sweep_keys: list[str] = field(default_factory=list)


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def run_identity(config: dict, replicate: int) -> tuple[str, int]:
    """(run id, 32-bit point key) of a resolved config and replicate number."""
    run_id = hashlib.sha256(_canonical({"config": config, "replicate": replicate}).encode()).hexdigest()[:16]
    point = hashlib.sha256(_canonical(config).encode()).digest()
    return run_id, int.from_bytes(point[:4], "little")


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read, validate and expand a scenario file into run specs.

    Raises :class:`ScenarioError` (one line per problem) for anything wrong: a
    missing or unparsable file, unknown keys, wrong types or ranges, a bad sweep,
    or data that does not fit the model. Nothing is written anywhere.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such scenario file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{path}: is a directory, not a scenario file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: invalid TOML: {exc}"]) from None
    return parse_scenario(doc, path)


def parse_scenario(doc: dict, path: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (as loaded from TOML) and expand its sweep."""
    kind = doc.get("model")
    if kind not in SCENARIO_MODELS:
        allowed = ", ".join(repr(k) for k in SCENARIO_MODELS)
        if kind is None:
            raise ScenarioError([f"{path}: model: required key is missing (one of {allowed})"])
        close = difflib.get_close_matches(str(kind), list(SCENARIO_MODELS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ScenarioError([f"{path}: model: unknown model {kind!r} (one of {allowed}){hint}"])
    cls = SCENARIO_MODELS[kind]
    base = _validate_doc(cls, doc, path)
    sweep = base.sweep

    # sweep keys must name real settings
    known = _dotted_fields(cls)
    problems = []
    for table in ("grid", "zip"):
        for key, values in getattr(sweep, table).items():
            if key not in known or key in ("model", "name", "description"):
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"{path}: sweep.{table}.'{key}': not a scenario setting{hint}")
            elif not values:
                problems.append(f"{path}: sweep.{table}.'{key}': needs at least one value")
    lengths = {len(v) for v in sweep.zip.values()}
    if len(lengths) > 1:
        problems.append(f"{path}: sweep.zip: lists must have equal lengths (got {sorted(lengths)})")
    dup = set(sweep.grid) & set(sweep.zip)
    if dup:
        problems.append(f"{path}: sweep: {', '.join(sorted(dup))} in both grid and zip")
    if problems:
        raise ScenarioError(problems)

    grid_keys = list(sweep.grid)
    zip_keys = list(sweep.zip)
    zip_rows = list(zip(*sweep.zip.values())) if zip_keys else [()]
    points = []
    for combo in itertools.product(*sweep.grid.values()):
        for zrow in zip_rows:
            points.append(dict(zip(grid_keys, combo)) | dict(zip(zip_keys, zrow)))

    scenario = Scenario(path=path, name=base.name, model=kind, raw=doc, sweep_keys=grid_keys + zip_keys)
    base_dir = os.path.dirname(os.path.abspath(path))
    seen = set()
    for params in points:
        point_doc = copy.deepcopy(doc)
        point_doc.pop("sweep", None)
        for key, value in params.items():
            _set_path(point_doc, key, value)
        label = ", ".join(f"{k}={v!r}" for k, v in params.items())
        resolved = _validate_doc(cls, point_doc, path, context=f"sweep point {{{label}}}: " if params else "")
        config = resolved.model_dump(mode="json", exclude={"name", "description", "sweep"})
        for replicate in range(sweep.replicates):
            run_id, point_key = run_identity(config, replicate)
            if run_id in seen:
                continue  # a sweep that repeats a point gives the same run
            seen.add(run_id)
            scenario.runs.append(RunSpec(
                run_id=run_id, model=kind, scenario=base.name, config=config, params=params,
                replicate=replicate, seed={"entropy": resolved.seed, "spawn_key": [point_key, replicate]},
                base_dir=base_dir))
    return scenario


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the scenario format, for editors."""
    from pydantic import TypeAdapter

    models = tuple(SCENARIO_MODELS.values())
    if len(models) == 1:
        schema = models[0].model_json_schema()
    else:
        schema = TypeAdapter(Annotated[Union[models], Field(discriminator="model")]).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "dynet scenario")
    return schema
