"""A self-contained HTML report of one scenario's runs in a store.

One page, no external resources (plots embedded as base64 PNG, inline CSS; a Content
Security Policy forbids fetching anything), so it opens offline and can be mailed: the
scenario's resolved config (TOML) and its sweep, the summary table (replicate mean ± standard
error per sweep point of the model's summary metrics), the natural plots of the sweep and
the plots of a representative run. ``dynet report STORE SCENARIO -o report.html``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import warnings

from . import __version__

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 18px 28px 60px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 1.6em; }
.meta { color: #555; font-size: 0.92em; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 10px 12px; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.86em; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; } td.p { text-align: left; }
figure { margin: 18px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.88em; }
.failed { color: #b00020; }
"""

#: Marks, once the page has loaded, how many images decoded (``data-images="ok/total"``) and
#: any script or resource error (``data-errors``): a headless browser's DOM dump shows both.
SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    errors.push((e.message || (e.target && (e.target.src || e.target.tagName)) || 'error') + '');
    document.body.setAttribute('data-errors', errors.join(' | '));
  }, true);
  window.addEventListener('load', function () {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
    document.body.setAttribute('data-images', ok + '/' + imgs.length);
    document.body.setAttribute('data-errors', errors.join(' | '));
  });
})();
"""

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)


# --------------------------------------------------------------------------- TOML


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items() if x is not None) + " }"
    return json.dumps(str(v))


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def to_toml(config: dict, prefix: str = "", swept: frozenset = frozenset()) -> str:
    """A resolved config as TOML (keys whose value is None, i.e. unset, are left out); the
    dotted keys in ``swept`` get a ``# swept`` comment (a whole swept table: on its header)."""

    def mark(k):
        dotted = f"{prefix}.{k}" if prefix else k
        return "  # swept" if dotted in swept else ""

    plain = [(k, v) for k, v in config.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in config.items() if isinstance(v, dict)]
    lines = [f"{_toml_key(k)} = {_toml_value(v)}{mark(k)}" for k, v in plain if v is not None]
    for k, v in tables:
        name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
        body = to_toml(v, f"{prefix}.{k}" if prefix else k, swept)
        lines.append("")
        lines.append(f"[{name}]{mark(k)}")
        if body:
            lines.append(body)
    return "\n".join(lines).strip("\n")


# --------------------------------------------------------------------------- pieces


def _png(fig, dpi: int = 90) -> str:
    from .plots.common import png_bytes

    return base64.b64encode(png_bytes(fig, dpi)).decode("ascii")


def _fmt(v, err=None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    s = f"{v:.4g}" if isinstance(v, float) else str(v)
    if err is not None and not (isinstance(err, float) and math.isnan(err)):
        s += f" ± {err:.2g}"
    return s


def _summary_table(store, scenario: str, model: str, keys: list[str]) -> str:
    from . import analysis, models

    metrics = tuple(models.get(model).summary)
    rows = analysis.sweep_table(store, scenario, metrics)
    shown = [m for m in metrics if any(not math.isnan(r[m]) for r in rows)]
    try:
        rows.sort(
            key=lambda r: tuple(
                str(r["params"].get(k)) if not isinstance(r["params"].get(k), (int, float)) else r["params"].get(k)
                for k in keys
            )
        )
    except TypeError:
        pass
    head = (
        "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        + "<th>replicates</th>"
        + "".join(f"<th>{html.escape(m)}</th>" for m in shown)
    )
    body = []
    for r in rows:
        cells = "".join(f'<td class="p">{html.escape(_fmt(r["params"].get(k)))}</td>' for k in keys)
        cells += f"<td>{r['replicates']}</td>"
        cells += "".join(f"<td>{html.escape(_fmt(r[m], r[m + '_sem']))}</td>" for m in shown)
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        "<p class=meta>mean ± standard error over the replicates of each sweep point "
        f"(metrics: the {html.escape(model)} model's summary metrics).</p>"
    )


def _figure_html(fig, title: str, doc: str) -> str:
    data = _png(fig)
    alt = html.escape(title)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>{html.escape(title)}</b>: {html.escape(doc)}</figcaption></figure>"
    )


def build_report(store, scenario: str) -> str:
    """The HTML text of the report of ``scenario`` in ``store``."""
    import matplotlib

    from . import plots
    from .plots import PlotError, source

    runs = [r for r in source.list_runs(store) if r["scenario"] == scenario]
    if not runs:
        names = ", ".join(sorted(source.scenarios(store))) or "none"
        raise PlotError(f"no runs of scenario '{scenario}' in {os.fspath(store)} (scenarios: {names})")
    model = runs[0]["model"]
    complete = [r for r in runs if r["status"] == "complete"]
    failed = [r for r in runs if r["status"] == "failed"]
    other = len(runs) - len(complete) - len(failed)
    keys: list[str] = []
    for r in runs:
        for k in r["params"]:
            if k not in keys:
                keys.append(k)
    parts = []
    rep = source.representative_run(store, scenario)
    cfg_text = ""
    if rep is not None:
        ds = source.open_run(store, rep)
        from .plots.common import run_info

        info = run_info(ds)
        cfg = dict(info["config"])
        cfg_text = f'name = "{scenario}"\n' + to_toml(cfg, swept=frozenset(keys))
        sweep_lines = ["", "# the sweep, as stored: the values each swept key takes (this run's are above)"]
        from .plots.common import sorted_unique

        for k in keys:
            vals = sorted_unique([r["params"].get(k) for r in runs])
            sweep_lines.append(f"# {k} = {_toml_value([list(v) if isinstance(v, tuple) else v for v in vals])}")
        reps = max((r["replicate"] or 0) for r in runs) + 1
        sweep_lines.append(f"# replicates = {reps}")
        cfg_text += "\n" + "\n".join(sweep_lines)

    with warnings.catch_warnings(), matplotlib.rc_context({"figure.max_open_warning": 0}):
        warnings.simplefilter("ignore")
        sweep_figs = []
        if complete:
            t = plots.load_target(store, scenario)
            avail = plots.target_kinds(t)
            natural = plots.natural_kind(t)
            order = [natural] + [k for k in avail if k not in (natural, "metric")]
            for k in order:
                try:
                    sweep_figs.append(_figure_html(plots.draw(t, k), f"sweep: {k}", avail[k]))
                except PlotError as exc:
                    sweep_figs.append(f"<p class=meta>sweep plot {html.escape(k)}: {html.escape(str(exc))}</p>")
        run_figs = []
        if rep is not None:
            t = plots.load_target(store, rep)
            avail = plots.target_kinds(t)
            natural = plots.natural_kind(t)
            for k in [natural] + [k for k in avail if k != natural]:
                try:
                    run_figs.append(_figure_html(plots.draw(t, k), f"run {rep[:10]}: {k}", avail[k]))
                except PlotError as exc:
                    run_figs.append(f"<p class=meta>run plot {html.escape(k)}: {html.escape(str(exc))}</p>")

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<h1>{html.escape(scenario)}</h1>")
    parts.append(
        f"<p class=meta>model <b>{html.escape(model)}</b> · store "
        f"<code>{html.escape(os.path.abspath(os.fspath(store)))}"
        f"</code> · {len(runs)} runs: {len(complete)} complete, {len(failed)} failed"
        + (f", {other} unfinished" if other else "")
        + f" · dynet {__version__} · {now}</p>"
    )
    parts.append("<h2>Scenario</h2>")
    if cfg_text:
        parts.append(
            "<p class=meta>The resolved configuration of the runs (a representative run's; the swept "
            "keys take the values listed at the end).</p>"
        )
        parts.append(f'<pre id="config">{html.escape(cfg_text)}</pre>')
    parts.append("<h2>Summary</h2>")
    if complete:
        parts.append(_summary_table(store, scenario, model, keys))
    else:
        parts.append("<p>No complete runs.</p>")
    if failed:
        items = "".join(
            f"<li><code>{html.escape(r['run_id'])}</code> "
            f"{html.escape(json.dumps(r['params']))}: {html.escape(r['error'] or '')}</li>"
            for r in failed
        )
        parts.append(f'<h3 class="failed">Failed runs</h3><ul class="failed">{items}</ul>')
    parts.append("<h2>The sweep</h2>")
    parts.extend(sweep_figs or ["<p>No complete runs to plot.</p>"])
    if rep is not None:
        parts.append(f"<h2>A representative run: {html.escape(rep)}</h2>")
        r = next(x for x in runs if x["run_id"] == rep)
        parts.append(f"<p class=meta>replicate {r['replicate']} · {html.escape(json.dumps(r['params']))}</p>")
        parts.extend(run_figs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>dynet report: {html.escape(scenario)}</title><style>{CSS}</style>"
        f"<script>{SCRIPT}</script></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def write_report(store, scenario: str, output: str | os.PathLike = "report.html") -> str:
    """Write the report of ``scenario`` to ``output`` (whole or not at all); return the path."""
    text = build_report(store, scenario)
    output = os.fspath(output)
    tmp = f"{output}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return output
