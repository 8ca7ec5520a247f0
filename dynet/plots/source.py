"""Reading what the plots draw out of a store: one run as an xarray Dataset, the runs of a
scenario as a pandas DataFrame (one row per run: run_id, scenario, model, replicate, status,
one column per swept parameter, one per scalar final metric).

The plotting functions never call these: they take the Dataset / DataFrame, so data from
anywhere (a notebook, another store reader) plots the same.
"""

from __future__ import annotations

import os

from .common import PlotError


def open_store(store):
    """``dynet.open_store(store)``: the analysis reader."""
    from ..analysis import open_store as _open

    return _open(os.fspath(store))


def list_runs(store) -> list[dict]:
    from .. import api

    return api.list_runs(store)


def runs_frame(store, scenario: str | None = None, complete_only: bool = True):
    """The runs of ``store`` (of ``scenario``) as a DataFrame (``Store.runs``: run_id, scenario,
    model, swept parameters (dotted), replicate, status, final metrics); ``df.attrs["sweep_keys"]``
    names the swept-parameter columns of these runs."""
    st = open_store(store)
    df = st.runs
    params = list(df.attrs.get("param_columns", []))
    if scenario is not None:
        df = df[df["scenario"] == scenario]
    if complete_only:
        df = df[df["status"] == "complete"]
    df = df.reset_index(drop=True)
    keys = [k for k in params if k in df and df[k].notna().any()]
    df.attrs = {"sweep_keys": keys, "scenario": scenario}
    return df


def open_run(store, run_id: str):
    """One run as an :class:`xarray.Dataset` (``Store.run``: lazy arrays, a coordinate on every
    dimension, the run record in ``attrs``)."""
    return open_store(store).run(run_id)


def scenarios(store) -> dict[str, str]:
    """Scenario name -> model of every scenario with runs in ``store``."""
    out = {}
    for r in list_runs(store):
        out.setdefault(r["scenario"], r["model"])
    return out


def resolve(store, target: str) -> tuple[str, str, str]:
    """``("sweep", scenario, model)`` when ``target`` names a scenario in the store, else
    ``("run", run_id, model)`` for a run id or unique prefix. Raises :class:`PlotError`."""
    runs = list_runs(store)
    by_scenario = {}
    for r in runs:
        by_scenario.setdefault(r["scenario"], r["model"])
    if target in by_scenario:
        return "sweep", target, by_scenario[target]
    ids = [r for r in runs if r["run_id"].startswith(target)]
    if len(ids) == 1:
        return "run", ids[0]["run_id"], ids[0]["model"]
    if len(ids) > 1:
        raise PlotError(f"run id '{target}' is ambiguous: {', '.join(r['run_id'] for r in ids[:5])}")
    names = ", ".join(sorted(by_scenario)) or "none"
    raise PlotError(f"'{target}' is neither a scenario nor a run id in {os.fspath(store)} (scenarios: {names})")


def representative_run(store, scenario: str) -> str | None:
    """A complete run of ``scenario`` to show: a replicate-0 run (the first by run id)."""
    runs = [r for r in list_runs(store) if r["scenario"] == scenario and r["status"] == "complete"]
    if not runs:
        return None
    runs.sort(key=lambda r: (r["replicate"] or 0, r["run_id"]))
    return runs[0]["run_id"]
