"""The scenario schema of dense associative memories: every table, its defaults and its checks, declared once.

The stored patterns and the cue reuse the Hopfield kind's public tables
(:class:`~dynet.models.hopfield.config.RandomPatterns`, :class:`~dynet.models.hopfield.config.FlipInit`).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from dynet.config import ScenarioBase, Strict
from dynet.models.hopfield.config import FlipInit, RandomPatterns


class DamNetwork(Strict):
    """The network: its size."""

    n_units: int = Field(ge=2, le=65536, description="Number of units N.")


class DamEnergy(Strict):
    """The interaction function F of E(s) = -sum_mu F(xi_mu . s)."""

    function: Literal["polynomial", "rectified", "exponential"] = Field(
        "polynomial",
        description="polynomial: F(x) = x^n; rectified: F(x) = max(x, 0)^n (Krotov & Hopfield 2016); "
        "exponential: F(x) = exp(x) (Demircigil et al. 2017).",
    )
    n: int = Field(3, ge=2, le=64, description="Power n of the polynomial and rectified functions (n = 2: Hopfield).")


class DamDynamics(Strict):
    """Zero-temperature dynamics: each visited unit takes the state of lower energy (ties keep it)."""

    update: Literal["async-random", "async-sequential", "sync"] = Field(
        "async-random",
        description="Asynchronous in a fresh random permutation per sweep, asynchronous in order 0..N-1, "
        "or synchronous (every unit from the same old state).",
    )
    max_sweeps: int = Field(100, ge=1, le=1_000_000, description="Stop after this many sweeps at the latest.")


class DamRecord(Strict):
    state: bool = Field(True, description="Record the state (int8) after each sweep.")


class DamScenario(ScenarioBase):
    """A dense associative memory (Krotov & Hopfield 2016) recalling a stored pattern from a noisy cue."""

    model: Literal["dam"]
    network: DamNetwork
    energy: DamEnergy = Field(default_factory=DamEnergy)
    patterns: RandomPatterns
    init: FlipInit
    dynamics: DamDynamics = Field(default_factory=DamDynamics)
    record: DamRecord = Field(default_factory=DamRecord)

    @model_validator(mode="after")
    def _sizes(self):
        n_pat = self.patterns.n_patterns(self.network.n_units)
        if n_pat < 1:
            raise ValueError(f"patterns.load: {self.patterns.load} gives no pattern at N = {self.network.n_units}")
        if self.init.pattern >= n_pat:
            raise ValueError(f"init.pattern: {self.init.pattern} is out of range for {n_pat} patterns")
        n, e = self.network.n_units, self.energy
        if e.function != "exponential" and e.n * math.log2(n) + math.log2(2 * n_pat) >= 1023:
            # the energies (up to P N^n) and their differences must stay finite in float64
            raise ValueError(f"energy.n: P N^n = {n_pat} x {n}^{e.n} overflows float64; lower n")
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        n = self.network.n_units
        n_pat = self.patterns.n_patterns(n)
        return [(10 * n_pat * n, "patterns", f"{n_pat} patterns of {n} units")]
