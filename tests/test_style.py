"""The habits CI keeps: ruff's lint rules and its formatting over the whole repository
(settings in pyproject.toml; ruff is pinned in the test extra so formatting is stable)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUFF = os.path.join(os.path.dirname(sys.executable), "ruff")


def _ruff(*args) -> subprocess.CompletedProcess:
    if not os.path.exists(RUFF):
        pytest.fail(f"ruff is not installed beside {sys.executable}: pip install '.[test]'")
    return subprocess.run([RUFF, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_lint_passes():
    proc = _ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert proc.returncode == 0, f"ruff check found problems (fix: ruff check --fix .):\n{proc.stdout}{proc.stderr}"


def test_ruff_format_is_applied():
    proc = _ruff("format", "--no-cache", "--check", ".")
    assert proc.returncode == 0, f"files ruff would reformat (fix: ruff format .):\n{proc.stdout}{proc.stderr}"
