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

import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import stat
import tomllib
import typing
from dataclasses import dataclass, field
from typing import Annotated, Union

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from . import data as _data
from . import models as _models
from .config import MAX_RUN_BYTES, ScenarioBase, Sweep, format_error, model_classes
from .errors import ScenarioError

__all__ = [
    "MAX_RUN_BYTES",
    "RunSpec",
    "Scenario",
    "ScenarioError",
    "json_schema",
    "load_scenario",
    "memory_problem",
    "parse_scenario",
    "run_identity",
    "run_settings",
    "scenario_models",
]


def scenario_models() -> dict[str, type[ScenarioBase]]:
    """Model kind -> its scenario class, in the registry's order (the ``model`` key picks one)."""
    return {name: kind.config for name, kind in _models.REGISTRY.items()}


def memory_problem(
    m: ScenarioBase, limit: float = MAX_RUN_BYTES, allowed: str = f"at most {MAX_RUN_BYTES / 2**30:g} GiB per run"
) -> str | None:
    """``key: ...`` when a run of this validated scenario would need more than ``limit`` bytes
    (its largest arrays, estimated from its settings by the scenario class's ``memory()``)."""
    terms = m.memory()
    total = sum(t[0] for t in terms)
    if total <= limit:
        return None
    _, key, what = max(terms)
    return f"{key}: a run would need about {total / 2**30:,.1f} GiB of memory (mostly {what}); {allowed}"


def check_memory(scenario: Scenario, limit: float, allowed: str) -> None:
    """Raise :class:`ScenarioError` (one line, the first run too large) when a run of ``scenario``
    would need more than ``limit`` bytes: e.g. more than a cluster's workers may use."""
    seen = set()
    for spec in scenario.runs:
        if id(spec.settings) in seen:  # the replicates of a sweep point share one settings object
            continue
        seen.add(id(spec.settings))
        problem = memory_problem(spec.settings, limit, allowed)
        if problem:
            point = ", ".join(f"{k}={v!r}" for k, v in spec.params.items())
            raise ScenarioError([f"{scenario.path}: {f'sweep point {{{point}}}: ' if point else ''}{problem}"])


# --------------------------------------------------------------------------- loading


def _dotted_fields(cls: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key path of a scenario class; tables that take free keys end in ``.*``."""
    out = []
    for name, f in cls.model_fields.items():
        if name == "sweep":
            continue
        out.append(prefix + name)
        if typing.get_origin(f.annotation) is dict:
            out.append(prefix + name + ".*")
        for sub in model_classes(f.annotation):
            if sub.model_config.get("extra") == "allow":
                out.append(prefix + name + ".*")
            out.extend(_dotted_fields(sub, prefix + name + "."))
    return sorted(set(out))


def _is_setting(key: str, known: list[str]) -> bool:
    if key in known:
        return True
    return any(k.endswith(".*") and key.startswith(k[:-1]) and "." not in key[len(k) - 1 :] for k in known)


def _validate_doc(cls, doc: dict, where: str, context: str = "") -> BaseModel:
    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioError([f"{where}: {context}{format_error(cls, e)}" for e in exc.errors()]) from None


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
    # the validated scenario of this point (set by the expansion; rebuilt from config when absent)
    _settings: ScenarioBase | None = field(default=None, repr=False, compare=False)

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed["entropy"], spawn_key=tuple(self.seed["spawn_key"]))

    @property
    def settings(self) -> ScenarioBase:
        """The run's typed, validated scenario (its model kind's config class): what drivers read.
        File hashes (``config["data"]["sha256"]``) are in :attr:`config` only."""
        if self._settings is None:  # frozen: the cache is set past the dataclass's guard
            object.__setattr__(self, "_settings", run_settings(self.model, self.config, self.scenario))
        return self._settings

    def __getstate__(self):  # workers rebuild the typed settings: a dict pickles smaller and faster
        return {**self.__dict__, "_settings": None}


@dataclass
class Scenario:
    path: str
    name: str
    model: str
    raw: dict
    runs: list[RunSpec] = field(default_factory=list)
    sweep_keys: list[str] = field(default_factory=list)


def _without_hashes(node):
    """``node`` without the ``sha256`` keys that the expansion put beside file paths."""
    if isinstance(node, dict):
        return {k: _without_hashes(v) for k, v in node.items() if not (k == "sha256" and "path" in node)}
    if isinstance(node, list):
        return [_without_hashes(v) for v in node]
    return node


def run_settings(model: str, config: dict, name: str = "run") -> ScenarioBase:
    """The typed scenario of a run's resolved config (``RunSpec.config`` or a stored run's
    ``config`` attribute), validated by its model kind's config class."""
    cls = scenario_models()[model]
    doc = {**_without_hashes(config), "name": name}
    try:
        return cls.model_validate_json(json.dumps(doc))
    except ValidationError as exc:
        raise ScenarioError([f"run config: {format_error(cls, e)}" for e in exc.errors()]) from None


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # json.dumps(obj, sort_keys=True, ...)


def _canonical(obj) -> str:
    return _CANONICAL.encode(obj)


def run_identity(config: dict, replicate: int) -> tuple[str, int]:
    """(run id, 32-bit point key) of a resolved config and replicate number."""
    run_id = hashlib.sha256(_canonical({"config": config, "replicate": replicate}).encode()).hexdigest()[:16]
    point = hashlib.sha256(_canonical(config).encode()).digest()
    return run_id, int.from_bytes(point[:4], "little")


#: The largest scenario file read (a scenario is a page of TOML; this bounds what a mistaken
#: path such as /dev/zero or a data file can cost).
MAX_SCENARIO_BYTES = 1 << 20
#: The most runs (sweep points x replicates) one scenario may expand to.
MAX_RUNS = 100_000

_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_scenario_text(path: str) -> str:
    """The text of a scenario file: a regular file of at most ``MAX_SCENARIO_BYTES`` bytes of
    UTF-8, read with a bounded read. Raises :class:`ScenarioError` (one line) otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such scenario file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{path}: is a directory, not a scenario file"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot open the scenario file: {exc.strerror or exc}"]) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ScenarioError([f"{path}: is a directory, not a scenario file"])
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
            raise ScenarioError([f"{path}: is {kind}, not a scenario file (a regular TOML file)"])
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read the scenario file: {exc.strerror or exc}"]) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            [(f"{path}: larger than {MAX_SCENARIO_BYTES // 2**20} MiB: not a scenario file (a TOML file of settings)")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            [
                (
                    f"{path}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column "
                    f"{column} (a scenario is a UTF-8 TOML file)"
                )
            ]
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark some editors write


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read, validate and expand a scenario file into run specs.

    Raises :class:`ScenarioError` (one line per problem) for anything wrong: a
    missing, oversized, non-text or unparsable file, unknown keys, wrong types or
    ranges, a bad sweep, or data that does not fit the model. Nothing is written anywhere.
    """
    path = os.fspath(path)
    text = read_scenario_text(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: invalid TOML: {' '.join(str(exc).split())}"]) from None
    except RecursionError:
        raise ScenarioError([f"{path}: invalid TOML: arrays or tables nested too deeply"]) from None
    return parse_scenario(doc, path)


def parse_scenario(doc: dict, path: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (as loaded from TOML) and expand its sweep."""
    try:
        return _parse(doc, path)
    except RecursionError:
        raise ScenarioError([f"{path}: values nested too deeply"]) from None


def _sweep_problems(sweep: Sweep, known: list[str], path: str) -> list[str]:
    """Sweep keys that are not settings, empty or repeated value lists, unequal zip lengths,
    a key in both grid and zip, and more runs than ``MAX_RUNS``."""
    problems = []
    for table in ("grid", "zip"):
        for key, values in getattr(sweep, table).items():
            if not _is_setting(key, known) or key in ("model", "name", "description"):
                close = difflib.get_close_matches(key, [k for k in known if not k.endswith("*")], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"{path}: sweep.{table}.'{key}': not a scenario setting{hint}")
            elif not values:
                problems.append(f"{path}: sweep.{table}.'{key}': needs at least one value")
            elif table == "grid" or len(sweep.zip) == 1:
                dup = _first_repeat(values)
                if dup is not None:
                    problems.append(
                        f"{path}: sweep.{table}.'{key}': the value {_show(dup)} appears twice "
                        "(it would be the same runs)"
                    )
    lengths = {len(v) for v in sweep.zip.values()}
    if len(lengths) > 1:
        problems.append(f"{path}: sweep.zip: lists must have equal lengths (got {sorted(lengths)})")
    elif len(sweep.zip) > 1:
        dup = _first_repeat(list(zip(*sweep.zip.values())))
        if dup is not None:
            row = ", ".join(f"{k}={_show(v)}" for k, v in zip(sweep.zip, dup))
            problems.append(f"{path}: sweep.zip: the row {{{row}}} appears twice (it would be the same runs)")
    dup = set(sweep.grid) & set(sweep.zip)
    if dup:
        problems.append(f"{path}: sweep: {', '.join(sorted(dup))} in both grid and zip")
    if not problems:
        n_points = math.prod(len(v) for v in sweep.grid.values()) * (
            len(next(iter(sweep.zip.values()))) if sweep.zip else 1
        )
        if n_points * sweep.replicates > MAX_RUNS:
            problems.append(
                f"{path}: sweep: {n_points:,} sweep point(s) x {sweep.replicates:,} replicate(s) = "
                f"{n_points * sweep.replicates:,} runs; at most {MAX_RUNS:,} per scenario "
                "(split the sweep into several scenarios)"
            )
    return problems


def _first_repeat(values: list):
    seen = set()
    for v in values:
        # 1 and 1.0 (or true) are different TOML values; two points they give the same run are
        # caught once validated
        c = (type(v), v) if isinstance(v, (str, int, float, bool)) else _canonical(v)
        if c in seen:
            return v
        seen.add(c)
    return None


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@functools.cache
def _file_tables(cls: type[BaseModel]) -> tuple[tuple[str, ...], ...]:
    """Key paths of the tables of a scenario class that may name a file the run reads (a model
    with a ``path`` field: file patterns, data, weights)."""
    out = []

    def walk(c, prefix, depth):
        for name, f in c.model_fields.items():
            for sub in model_classes(f.annotation):
                if "path" in sub.model_fields:
                    out.append(prefix + (name,))
                elif depth < 4:
                    walk(sub, prefix + (name,), depth + 1)

    walk(cls, (), 0)
    return tuple(sorted(set(out)))


def _add_file_hashes(cls, config: dict, base_dir: str, cache: dict) -> None:
    """Put the sha256 of every file the run reads next to its path (``data.sha256`` beside
    ``data.path``), so the run's id and seed name the file's content, not its name."""
    for keys in _file_tables(cls):
        node = config
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("path"), str):
            full = node["path"] if os.path.isabs(node["path"]) else os.path.join(base_dir, node["path"])
            if full not in cache:
                cache[full] = _data.file_sha256(full)
            node["sha256"] = cache[full]  # None: missing or unreadable (preflight says which)


_NO_SWEEP = Sweep()


@functools.cache
def _field_adapter(cls: type[BaseModel], name: str):
    """A validator of one field of a scenario class on its own (its type and constraints)."""
    from pydantic import TypeAdapter

    f = cls.model_fields[name]
    return TypeAdapter(Annotated[f.annotation, f])


def _with_value(doc: dict, dotted: str, value) -> dict:
    """``doc`` with ``dotted`` set to ``value``: the tables on the path are copied, nothing else."""
    keys = dotted.split(".")
    out = dict(doc)
    node = out
    for k in keys[:-1]:
        nxt = node.get(k)
        nxt = {} if nxt is None else nxt
        if not isinstance(nxt, dict):
            raise KeyError(dotted)
        node[k] = nxt = dict(nxt)
        node = nxt
    node[keys[-1]] = value
    return out


def _identities(config: dict, replicates: int) -> tuple[list[str], int]:
    """The run ids of replicates 0..n-1 of a config, and its point key: :func:`run_identity`
    with the config serialized once."""
    canon = _canonical(config)
    point = hashlib.sha256(canon.encode()).digest()
    head = '{"config":' + canon + ',"replicate":'
    ids = [hashlib.sha256(f"{head}{r}}}".encode()).hexdigest()[:16] for r in range(replicates)]
    return ids, int.from_bytes(point[:4], "little")


def _big_ints(node, where: str = "") -> list[str]:
    """Key paths of integers outside the 64 bits TOML allows (tomllib reads any size; numpy and
    the kernels could not hold them)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _big_ints(v, f"{where}.{k}" if where else str(k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _big_ints(v, f"{where}[{i}]")]
    if isinstance(node, int) and not isinstance(node, bool) and not -(2**63) <= node < 2**63:
        return [where]
    return []


def _parse(doc: dict, path: str) -> Scenario:
    big = _big_ints(doc)
    if big:
        raise ScenarioError(
            [
                f"{path}: {where}: integer out of range (TOML integers are 64-bit: at most {2**63 - 1})"
                for where in big[:10]
            ]
        )
    kind = doc.get("model")
    if not isinstance(kind, str) or kind not in scenario_models():
        allowed = ", ".join(repr(k) for k in scenario_models())
        if kind is None:
            raise ScenarioError([f"{path}: model: required key is missing (one of {allowed})"])
        close = difflib.get_close_matches(str(kind), list(scenario_models()), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ScenarioError([f"{path}: model: unknown model {_show(kind)} (one of {allowed}){hint}"])
    cls = scenario_models()[kind]
    base = _validate_doc(cls, doc, path)
    sweep = base.sweep
    problems = _sweep_problems(sweep, _dotted_fields(cls), path)
    if problems:
        raise ScenarioError(problems)
    # every point is the base document with its sweep values set, validated as a whole; the
    # tables a point does not change go in as validated models (pydantic takes an instance of
    # the field's class as it is), so a point costs the validation of what it changes. Those
    # models are validated on their own and shared by the points; a scenario's checks must
    # never change them in place (they replace a table instead), which is verified below.
    try:
        return _expand(cls, doc, base, path, share=True)
    except _SharedTableChanged:
        return _expand(cls, doc, base, path, share=False)


class _SharedTableChanged(Exception):
    """A scenario check changed a table model that sweep points share."""


def _expand(cls, doc: dict, base: BaseModel, path: str, share: bool) -> Scenario:
    kind = doc["model"]
    sweep = base.sweep
    grid_keys = list(sweep.grid)
    zip_keys = list(sweep.zip)
    zip_rows = list(zip(*sweep.zip.values())) if zip_keys else [()]

    scenario = Scenario(path=path, name=base.name, model=kind, raw=doc, sweep_keys=grid_keys + zip_keys)
    base_dir = os.path.dirname(os.path.abspath(path))
    base_doc = {k: v for k, v in doc.items() if k != "sweep"}
    validated = {}
    for k, v in base_doc.items():
        if k in cls.model_fields and isinstance(getattr(base, k, None), BaseModel):
            try:
                validated[k] = _field_adapter(cls, k).validate_python(v)
            except ValidationError:  # not expected: the whole document passed
                pass
    for k, f in cls.model_fields.items():  # tables left out: their defaults, built once
        if k not in base_doc and k != "sweep" and f.default_factory is not None:
            default = f.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                validated[k] = default
    if not share:
        validated = {}
    before = {k: m.model_dump() for k, m in validated.items()}
    changed = {key.split(".", 1)[0] for key in grid_keys + zip_keys}  # the tables the sweep sets
    template = {k: v for k, v in base_doc.items() if k not in validated or k in changed}
    template.update({k: m for k, m in validated.items() if k not in changed})
    template["sweep"] = _NO_SWEEP  # a point has none (the default would be built per point)
    hashes: dict[str, str | None] = {}
    points: dict[str, dict] = {}  # run id of replicate 0 -> the params of the point that gave it

    def label(params: dict) -> str:  # built only for a message
        return ", ".join(f"{k}={v!r}" for k, v in params.items())

    def where(params: dict) -> str:
        return f"sweep point {{{label(params)}}}: " if params else ""

    for combo in itertools.product(*sweep.grid.values()):
        for zrow in zip_rows:
            params = dict(zip(grid_keys, combo)) | dict(zip(zip_keys, zrow))
            point_doc = template
            for key, value in params.items():
                try:
                    point_doc = _with_value(point_doc, key, value)
                except KeyError:
                    raise ScenarioError(
                        [f"{path}: sweep: '{key}' sets a key inside a value that is not a table"]
                    ) from None
            try:
                resolved = cls.model_validate(point_doc)
            except ValidationError as exc:
                raise ScenarioError([f"{path}: {where(params)}{format_error(cls, e)}" for e in exc.errors()]) from None
            too_big = memory_problem(resolved)
            if too_big:
                raise ScenarioError([f"{path}: {where(params)}{too_big}"])
            config = resolved.model_dump(mode="json", exclude={"name", "description", "sweep"})
            _add_file_hashes(cls, config, base_dir, hashes)
            ids, point_key = _identities(config, sweep.replicates)
            if ids[0] in points:
                raise ScenarioError(
                    [
                        (
                            f"{path}: sweep: points {{{label(points[ids[0]])}}} and {{{label(params)}}} "
                            "are the same run (their values are equal once validated)"
                        )
                    ]
                )
            points[ids[0]] = params
            seed = resolved.seed
            for replicate, run_id in enumerate(ids):
                scenario.runs.append(
                    RunSpec(
                        run_id=run_id,
                        model=kind,
                        scenario=base.name,
                        config=config,
                        params=params,
                        replicate=replicate,
                        seed={"entropy": seed, "spawn_key": [point_key, replicate]},
                        base_dir=base_dir,
                        _settings=resolved,
                    )
                )
    if any(m.model_dump() != before[k] for k, m in validated.items()):
        raise _SharedTableChanged()
    return scenario


def json_schema(kind: str | None = None) -> dict:
    """JSON Schema (draft 2020-12) of the scenario format (of one model kind's scenarios with
    ``kind``), for editors."""
    from pydantic import TypeAdapter

    models = tuple(scenario_models().values()) if kind is None else (scenario_models()[kind],)
    if len(models) == 1:
        schema = models[0].model_json_schema()
    else:
        schema = TypeAdapter(Annotated[Union[models], Field(discriminator="model")]).json_schema()  # noqa: UP007 - a tuple built at run time
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "dynet scenario")
    return schema
