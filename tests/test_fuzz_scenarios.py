"""A fuzzer over the shipped scenarios: every mutant either validates (exit 0) or is refused
with one-line errors and exit 2; never a traceback, never a hang, and an invalid one never
touches the store.

The mutants come from a fixed seed, so a failure is reproducible: the assertion message
names the case, the scenario it came from and the mutation.
"""

import contextlib
import copy
import glob
import json
import math
import os
import random
import re
import signal
import tomllib

import pytest
from click.testing import CliRunner
from conftest import SCENARIOS

from dynet.cli import main

SEED = 20261202
PER_SCENARIO = 14  # 23 shipped scenarios -> 322 cases

SIZE_KEYS = {
    "n_units",
    "count",
    "hidden",
    "n_hidden",
    "n_hidden1",
    "n_hidden2",
    "size",
    "chains",
    "epochs",
    "sweeps",
    "max_sweeps",
    "n_samples",
    "n_features",
    "batch_size",
    "replicates",
    "steps",
    "visible",
    "patterns",
    "bottleneck",
    "thermalize",
    "ais_runs",
    "ais_betas",
    "replicas",
    "n_classes",
    "n_bits",
    "exact_max",
    "quench_sweeps",
    "free_sweeps",
    "k",
    "burn_in",
    "every",
}
HUGE = [65536, 100_000, 1_000_000, 10_000_000, 2**31, 10**9, 2**62]
OTHER_TYPES = ["text", "", 7, -3, 0.5, True, False, [1, 2], [], {"a": 1}, {}, [[1], [2]], ["x", 1]]
OUT_OF_RANGE = [-1, 0, -1e9, 1e300, -1e300, 2**63, -(2**63), 2**64, 10**30, 1e-320]


# --------------------------------------------------------------------------- a TOML writer


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump_toml(doc: dict) -> str:
    lines = []

    def table(path, t):
        if path:
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        subs = []
        for k, v in t.items():
            if isinstance(v, dict):
                subs.append((k, v))
            else:
                lines.append(f"{_key(k)} = {_value(v)}")
        for k, v in subs:
            table(path + [k], v)

    table([], doc)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- mutations


def _paths(doc, prefix=()):
    """Every key path of a document, tables included."""
    for k, v in doc.items():
        yield prefix + (k,), v
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


def _parent(doc, path):
    node = doc
    for k in path[:-1]:
        node = node[k]
    return node


def _leaves(doc, want=lambda v: not isinstance(v, dict)):
    return [p for p, v in _paths(doc) if want(v)]


def _typo(rng, key: str) -> str:
    i = rng.randrange(len(key))
    kind = rng.randrange(3)
    if kind == 0 and len(key) > 1:
        return key[:i] + key[i + 1 :]  # a letter dropped
    if kind == 1 and i + 1 < len(key):
        return key[:i] + key[i + 1] + key[i] + key[i + 2 :]  # two swapped
    return key[:i] + rng.choice("aeioustz_") + key[i:]  # one added


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def m_drop(rng, doc):
    path = rng.choice(_leaves(doc, lambda v: True))
    del _parent(doc, path)[path[-1]]
    return f"drop {'.'.join(path)}"


def m_misspell(rng, doc):
    path = rng.choice(_leaves(doc, lambda v: True))
    parent = _parent(doc, path)
    new = _typo(rng, path[-1])
    parent[new] = parent.pop(path[-1])
    return f"rename {'.'.join(path)} -> {new}"


def m_type(rng, doc):
    path = rng.choice(_leaves(doc))
    value = copy.deepcopy(rng.choice([v for v in OTHER_TYPES if type(v) is not type(_parent(doc, path)[path[-1]])]))
    _parent(doc, path)[path[-1]] = value
    return f"{'.'.join(path)} = {value!r}"


def m_range(rng, doc):
    paths = _leaves(doc, _numeric) or _leaves(doc)
    path = rng.choice(paths)
    value = rng.choice(OUT_OF_RANGE)
    _parent(doc, path)[path[-1]] = value
    return f"{'.'.join(path)} = {value!r}"


def m_nonfinite(rng, doc):
    paths = _leaves(doc, _numeric) or _leaves(doc)
    path = rng.choice(paths)
    value = rng.choice([math.nan, math.inf, -math.inf])
    _parent(doc, path)[path[-1]] = value
    return f"{'.'.join(path)} = {value!r}"


def m_huge(rng, doc):
    paths = [p for p in _leaves(doc) if p[-1] in SIZE_KEYS and p[0] != "sweep"]
    value = rng.choice(HUGE)
    if not paths:  # give a size to the first table
        table = next((p for p, v in _paths(doc) if isinstance(v, dict) and p[0] != "sweep"), None)
        if table is None:
            doc["sweep"] = {"replicates": value}
            return f"sweep.replicates = {value}"
        paths = [table + ("size",)]
    path = rng.choice(paths)
    old = _parent(doc, path).get(path[-1])
    new = [value] * rng.randint(1, 4) if isinstance(old, list) else value
    _parent(doc, path)[path[-1]] = new
    return f"{'.'.join(path)} = {new!r}"


def m_nest(rng, doc):
    tables = [p for p, v in _paths(doc) if isinstance(v, dict)]
    kind = rng.randrange(4)
    if kind == 0 and len(tables) >= 2:  # a table moved into another
        a, b = rng.sample(tables, 2)
        if a[: len(b)] != b and b[: len(a)] != a:
            _parent(doc, b)[b[-1]][a[-1]] = _parent(doc, a).pop(a[-1])
            return f"move {'.'.join(a)} into {'.'.join(b)}"
    if kind == 1 and tables:  # a table made an array of tables
        a = rng.choice(tables)
        _parent(doc, a)[a[-1]] = [_parent(doc, a)[a[-1]]]
        return f"{'.'.join(a)} as an array of tables"
    leaves = _leaves(doc)
    if kind == 2 and leaves:  # a value made a table
        p = rng.choice(leaves)
        _parent(doc, p)[p[-1]] = {"value": _parent(doc, p)[p[-1]]}
        return f"{'.'.join(p)} as a table"
    top = [k for k, v in doc.items() if not isinstance(v, dict)]
    if top and tables:  # a top-level key put inside a table
        k, t = rng.choice(top), rng.choice(tables)
        _parent(doc, t)[t[-1]][k] = doc.pop(k)
        return f"{k} moved into {'.'.join(t)}"
    doc["extra"] = {"nested": {"deeper": 1}}
    return "an extra nested table"


def m_sweep(rng, doc):
    leaves = [p for p in _leaves(doc) if p[0] not in ("sweep", "name", "model", "description")]
    path = rng.choice(leaves)
    value = _parent(doc, path)[path[-1]]
    kind = rng.randrange(4)
    sweep = doc.setdefault("sweep", {})
    key = ".".join(path)
    if kind == 0:
        values = [value, value]  # a repeated value
    elif kind == 1:
        values = [value, rng.choice(OTHER_TYPES + OUT_OF_RANGE)]
    elif kind == 2:
        key = _typo(rng, key)
        values = [value]
    else:
        sweep["zip"] = {key: [value, value], "seed": [1]}  # unequal lengths
        return f"sweep.zip over {key} and seed with unequal lengths"
    sweep["grid"] = {key: values}
    return f"sweep.grid.{key} = {values!r}"


def t_truncate(rng, text):
    cut = rng.randrange(len(text))
    return text[:cut], f"truncated at byte {cut}"


def t_flip(rng, raw):
    raw = bytearray(raw)
    where = [rng.randrange(len(raw)) for _ in range(rng.randint(1, 6))]
    for i in where:
        raw[i] ^= 1 << rng.randrange(8)
    return bytes(raw), f"bits flipped at {where}"


def t_garbage(rng, raw):
    i = rng.randrange(len(raw))
    junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    return raw[:i] + junk + raw[i:], f"{len(junk)} random bytes inserted at {i}"


def t_lines(rng, raw):
    lines = raw.split(b"\n")
    i = rng.randrange(len(lines))
    if rng.random() < 0.5:
        del lines[i]
        return b"\n".join(lines), f"line {i + 1} deleted"
    lines.insert(i, lines[i])
    return b"\n".join(lines), f"line {i + 1} repeated"


DOC_MUTATIONS = [m_drop, m_misspell, m_type, m_range, m_nonfinite, m_huge, m_nest, m_sweep]
TEXT_MUTATIONS = [t_flip, t_garbage, t_lines]


def cases():
    """(case id, source scenario, what was done, file bytes), from the fixed seed."""
    rng = random.Random(SEED)
    out = []
    kinds = [*DOC_MUTATIONS, t_truncate, *TEXT_MUTATIONS]
    for f in sorted(glob.glob(os.path.join(SCENARIOS, "*.toml"))):
        with open(f, "rb") as fh:
            raw = fh.read()
        doc = tomllib.loads(raw.decode())
        for j in range(PER_SCENARIO):
            kind = kinds[j % len(kinds)] if j < len(kinds) else rng.choice(kinds)
            if kind in DOC_MUTATIONS:
                mutant = copy.deepcopy(doc)
                what = kind(rng, mutant)
                if j >= len(kinds) and rng.random() < 0.5:  # and a second mutation on top
                    what += "; " + rng.choice(DOC_MUTATIONS)(rng, mutant)
                data = dump_toml(mutant).encode()
            elif kind is t_truncate:
                text, what = t_truncate(rng, raw.decode())
                data = text.encode()
            else:
                data, what = kind(rng, raw)
            out.append((f"{len(out):03d}", os.path.basename(f), f"{kind.__name__}: {what}", data))
    return out


CASES = cases()


@contextlib.contextmanager
def deadline(seconds: int, what: str):
    """Fail (rather than hang) when a case takes longer than a generous limit."""

    def expired(signum, frame):
        raise TimeoutError(f"{what}: still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _check_refusal(res, label):
    assert res.exit_code == 2, (label, res.exit_code, res.output)
    lines = res.stderr.splitlines()
    assert lines and all(line.startswith("error: ") and len(line) < 2000 for line in lines), (label, res.stderr)
    assert "Traceback" not in res.output, (label, res.output)


def test_the_case_list_is_large_and_fixed():
    assert len(CASES) >= 300
    assert len({c[3] for c in CASES}) > 0.9 * len(CASES)  # nearly all distinct
    assert cases()[17][2] == CASES[17][2]  # reproducible from the seed


def test_mutated_scenarios_validate_or_are_refused_in_one_line(tmp_path):
    runner = CliRunner()
    outcomes = {0: 0, 2: 0}
    refused = []
    for case, source, what, data in CASES:
        path = tmp_path / f"case{case}.toml"
        path.write_bytes(data)
        label = f"case {case} from {source} ({what})"
        with deadline(60, label):
            res = runner.invoke(main, ["validate", str(path)])
        assert res.exception is None or isinstance(res.exception, SystemExit), (label, res.exc_info)
        assert res.exit_code in (0, 2), (label, res.exit_code, res.output)
        outcomes[res.exit_code] += 1
        if res.exit_code == 0:
            assert res.stdout.strip().endswith("run(s))") and res.stderr == "", (label, res.output)
        else:
            _check_refusal(res, label)
            assert res.stdout == "", (label, res.stdout)
            refused.append((case, path, label))
    # both outcomes occur: the mutations are neither all fatal nor all harmless
    assert outcomes[0] >= 20 and outcomes[2] >= 150, outcomes

    # a subset of the refused ones through `dynet run`: refused the same way, the store untouched
    for case, path, label in refused[::6]:
        store = tmp_path / f"store{case}.zarr"
        with deadline(60, label):
            res = runner.invoke(main, ["run", str(path), "--store", str(store), "--workers", "1"])
        assert res.exception is None or isinstance(res.exception, SystemExit), (label, res.exc_info)
        _check_refusal(res, label)
        assert not store.exists(), label


@pytest.mark.parametrize("case", [c for c in CASES if c[2].startswith("m_huge")][:8], ids=lambda c: c[0])
def test_huge_sizes_are_refused_or_fit(tmp_path, case):
    """A huge size either fails validation or passed the memory estimate (never allocated here)."""
    import resource

    _, _, what, data = case
    path = tmp_path / "huge.toml"
    path.write_bytes(data)
    res = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert res.exit_code in (0, 2), (what, res.output)
    out = json.loads(res.stdout)
    assert out["ok"] is (res.exit_code == 0)
    # validation itself stayed small: well under the 4 GiB a run may have
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 3 * 2**20, what  # KiB
