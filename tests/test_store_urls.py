"""Store locations given as URLs: file:// works; other schemes are refused in one line
before anything is written (never a local folder named 's3:')."""

import os
import subprocess
import sys

import pytest

from dynet import api
from dynet import store as S

CLI = [sys.executable, "-m", "dynet.cli"]


@pytest.mark.parametrize("url", ["s3://bucket/x.zarr", "memory://x.zarr", "gs://b/runs.zarr"])
def test_unsupported_store_urls_are_one_line_errors_and_write_nothing(tmp_path, small_scenario, url):
    for args in (
        ["run", small_scenario, "--store", url, "--workers", "1"],
        ["ls", url],
        ["show", url, "abc"],
        ["status", url],
    ):
        proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        scheme = url.split(":")[0]
        assert proc.stderr.strip().splitlines() == [
            f"error: {url}: '{scheme}://' stores are not supported: a dynet store is a folder on a local or "
            "shared file system (a path, or a file:// URL)"
        ], args
    assert os.listdir(tmp_path) == [os.path.basename(small_scenario)]  # no folder named 's3:' or 'memory:'


def test_file_urls_name_local_stores(tmp_path, small_scenario):
    url = f"file://{tmp_path}/runs.zarr"
    report = api.run_scenario(small_scenario, store=url, workers=1)
    assert report.store == str(tmp_path / "runs.zarr") and not report.failed
    assert len(api.list_runs(url)) == 12
    assert S.store_path(url) == str(tmp_path / "runs.zarr")
