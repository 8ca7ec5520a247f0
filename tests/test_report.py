"""The HTML report: self-contained, the right numbers, and it renders in a real headless browser."""

import html
import os
import re
import subprocess
import textwrap
import tomllib

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("xarray")
pytest.importorskip("pandas")

from click.testing import CliRunner

from dynet import analysis, api, models
from dynet.cli import main
from dynet.report import to_toml, write_report

CHROMIUM = "/usr/bin/chromium"


def _no_browser(what: str):
    """Skip without Chromium; fail instead where .ci/run installed it (DYNET_REQUIRE_BROWSER=1)."""
    why = f"{CHROMIUM} is absent (Debian: apt-get install chromium): {what}"
    if os.environ.get("DYNET_REQUIRE_BROWSER") == "1":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SCENARIO = """
name = "rep"
model = "hopfield"
seed = 21
[network]
n_units = 64
[patterns]
source = "random"
load = 0.05
[init]
kind = "flip"
pattern = 0
fraction = 0.2
[dynamics]
update = "async-permutation"
max_sweeps = 15
[sweep]
replicates = 3
grid = { "network.rule" = ["hebbian", "storkey"], "patterns.load" = [0.05, 0.2] }
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    f = d / "rep.toml"
    f.write_text(textwrap.dedent(SCENARIO))
    path = str(d / "runs.zarr")
    assert not api.run_scenario(str(f), store=path, workers=1).failed
    return path


@pytest.fixture(scope="module")
def page(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "report.html"
    res = CliRunner().invoke(main, ["report", store, "rep", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return str(out)


def test_report_is_self_contained(page):
    text = open(page, encoding="utf-8").read()
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "http://" not in text and "https://" not in text and "<link" not in text
    assert "default-src 'none'" in text  # the page may fetch nothing
    assert text.count("<img ") >= 4  # the sweep's plots and the representative run's


def test_report_config_and_summary_table(page, store):
    text = open(page, encoding="utf-8").read()
    cfg_text = html.unescape(re.search(r'<pre id="config">(.*?)</pre>', text, re.DOTALL).group(1))
    parsed = tomllib.loads(cfg_text)
    assert parsed["name"] == "rep" and parsed["network"]["n_units"] == 64 and parsed["dynamics"]["max_sweeps"] == 15
    assert "# patterns.load = [0.05, 0.2]" in cfg_text and "# replicates = 3" in cfg_text
    assert re.search(r"^load = 0\.\d+  # swept$", cfg_text, re.M) and re.search(
        r'^rule = "\w+"  # swept$', cfg_text, re.M
    )
    assert re.search(r"^n_units = 64$", cfg_text, re.M)  # not swept: no mark
    table = re.search(r'<table id="summary">(.*?)</table>', text, re.DOTALL).group(1)
    header = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", table)]
    rows = [
        [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in re.findall(r"<tr>(.*?)</tr>", table)
    ][1:]
    assert header[:3] == ["network.rule", "patterns.load", "replicates"]
    assert set(header[3:]) <= set(models.get("hopfield").summary) and "final_overlap" in header
    want = {
        (r["params"]["network.rule"], r["params"]["patterns.load"]): r
        for r in analysis.sweep_table(store, "rep", models.get("hopfield").summary)
    }
    assert len(rows) == 4
    col = header.index("final_overlap")
    for row in rows:
        w = want[(row[0], float(row[1]))]
        assert row[2] == "3"
        mean, _, err = row[col].partition(" ± ")
        assert float(mean) == pytest.approx(w["final_overlap"], rel=1e-3)
        assert float(err) == pytest.approx(w["final_overlap_sem"], rel=0.05, abs=1e-12)


def test_report_renders_in_headless_chromium(page, tmp_path):
    if not os.path.exists(CHROMIUM):
        _no_browser("the report is not rendered")
    n_img = open(page, encoding="utf-8").read().count("<img ")
    url = "file://" + os.path.abspath(page)
    common = [
        CHROMIUM,
        *BROWSER_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--log-level=0",
    ]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert f'data-images="{n_img}/{n_img}"' in body  # every image decoded
    assert 'data-errors=""' in body
    assert "CONSOLE" not in dom.stderr, [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln]
    shot = tmp_path / "shot.png"
    res = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1200,2000", url], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    from matplotlib.image import imread

    px = imread(str(shot))[..., :3]
    assert px.shape[:2] == (2000, 1200)
    assert px.std() > 0.05  # not blank
    assert (px.mean(axis=2) < 0.9).mean() > 0.02  # text, tables and plots cover part of the page


def test_browser_check_catches_a_broken_page(tmp_path):
    """The same checks fail on a page whose image does not decode and whose script throws."""
    if not os.path.exists(CHROMIUM):
        _no_browser("the broken page is not rendered")
    from dynet.report import SCRIPT

    bad = tmp_path / "bad.html"
    bad.write_text(
        f"<!DOCTYPE html><html><head><script>{SCRIPT}</script></head><body>"
        '<img src="data:image/png;base64,AAAA"><script>throw new Error("kaput")</script></body></html>'
    )
    dom = subprocess.run(
        [
            CHROMIUM,
            *BROWSER_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--log-level=0",
            "--dump-dom",
            f"file://{bad}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-images="0/1"' in body and "kaput" in body
    assert "CONSOLE" in dom.stderr


def test_report_errors(store, tmp_path):
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(main, ["report", store, "nonesuch", "-o", str(out)])
    assert res.exit_code == 2 and res.stderr.startswith("error: no runs of scenario 'nonesuch'")
    assert "rep" in res.stderr and not out.exists()
    res = runner.invoke(main, ["report", str(tmp_path / "missing.zarr"), "rep", "-o", str(out)])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and not out.exists()
    res = runner.invoke(main, ["report", store, "rep", "-o", str(tmp_path / "no" / "dir" / "r.html")])
    assert res.exit_code == 2 and res.stderr.startswith("error: ")


def test_to_toml_round_trips_a_config():
    assert tomllib.loads(to_toml({"t": {"a": 1, "b": {"c": 2}}}, swept=frozenset({"t.a", "t.b"}))) == {
        "t": {"a": 1, "b": {"c": 2}}
    }
    cfg = {
        "seed": 3,
        "model": "x",
        "a": {"b": [1, 2], "c": None, "d": {"e": "f", "g": 1.5, "h": True}},
        "weird key": {"x.y": [[1], [2, 3]]},
    }
    back = tomllib.loads(to_toml(cfg))
    assert back == {
        "seed": 3,
        "model": "x",
        "a": {"b": [1, 2], "d": {"e": "f", "g": 1.5, "h": True}},
        "weird key": {"x.y": [[1], [2, 3]]},
    }


def test_write_report_leaves_no_partial_file(store, tmp_path, monkeypatch):
    import dynet.report as R

    out = tmp_path / "r.html"
    assert write_report(store, "rep", out) == str(out) and out.stat().st_size > 10000
    before = out.read_bytes()

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(R.os, "replace", no_rename)
    with pytest.raises(OSError):
        write_report(store, "rep", out)
    assert out.read_bytes() == before  # the old report is intact
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # and no temporary file is left
