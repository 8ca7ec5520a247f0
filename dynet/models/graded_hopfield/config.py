"""The scenario schema of graded-response Hopfield networks: every table, its defaults and its checks,
declared once.

The stored patterns reuse the Hopfield kind's :class:`~dynet.models.hopfield.config.RandomPatterns`,
the cue its :class:`~dynet.models.hopfield.config.FlipInit` with an amplitude added.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from dynet.config import ScenarioBase, Strict
from dynet.models.hopfield.config import FlipInit, RandomPatterns

#: The most steps a fixed-step run may take (t_max / dt).
MAX_FIXED_STEPS = 10_000_000


class GradedNetwork(Strict):
    """The network: du_i/dt = -u_i/tau + sum_j W_ij V_j + I, V = tanh(gain u)."""

    n_units: int = Field(ge=2, le=4096, description="Number of units N.")
    gain: float = Field(4.0, gt=0, le=1e4, description="Gain lambda of the output function V = tanh(lambda u).")
    tau: float = Field(1.0, gt=0, le=1e6, description="Time constant tau of every unit.")
    input: float = Field(0.0, ge=-1e3, le=1e3, description="External input I, the same for every unit.")


class GradedCue(FlipInit):
    """Stored pattern ``pattern`` with ``round(fraction * N)`` signs flipped, as the initial output
    V(0) = amplitude * s (so u(0) = artanh(amplitude) s / lambda)."""

    amplitude: float = Field(0.5, gt=0, lt=1, description="|V_i(0)| of every unit: the cue's strength.")


class GradedIntegrator(Strict):
    """How the ODE is integrated: fixed-step Euler or RK4, or adaptive Dormand-Prince 5(4)."""

    method: Literal["dopri5", "rk4", "euler"] = Field(
        "dopri5",
        description="dopri5: Dormand-Prince 5(4) with error control (rtol, atol); rk4: classic fourth-order "
        "Runge-Kutta; euler: forward Euler (both with the fixed step dt).",
    )
    dt: float = Field(0.05, gt=0, le=1e3, description="Step of rk4 and euler; the first trial step of dopri5.")
    rtol: float = Field(1e-6, ge=1e-13, lt=1, description="Relative tolerance of dopri5's local error.")
    atol: float = Field(1e-9, gt=0, le=1, description="Absolute tolerance of dopri5's local error.")


class GradedDynamics(Strict):
    t_max: float = Field(50.0, gt=0, le=1e6, description="Stop at this time at the latest.")
    tol: float = Field(1e-6, ge=0, description="Stop (converged) once max_i |du_i/dt| < tol.")
    max_steps: int = Field(1_000_000, ge=1, le=MAX_FIXED_STEPS, description="Most accepted steps.")


class GradedRecord(Strict):
    state: bool = Field(False, description="Record the outputs V (N values, float64) after every step.")


class GradedHopfieldScenario(ScenarioBase):
    """A graded-response Hopfield network relaxing from a corrupted pattern."""

    model: Literal["graded-hopfield"]
    network: GradedNetwork
    patterns: RandomPatterns
    init: GradedCue
    integrator: GradedIntegrator = Field(default_factory=GradedIntegrator)
    dynamics: GradedDynamics = Field(default_factory=GradedDynamics)
    record: GradedRecord = Field(default_factory=GradedRecord)

    @model_validator(mode="after")
    def _sizes(self):
        n_pat = self.patterns.n_patterns(self.network.n_units)
        if n_pat < 1:
            raise ValueError(f"patterns.load: {self.patterns.load} gives no pattern at N = {self.network.n_units}")
        if self.init.pattern >= n_pat:
            raise ValueError(f"init.pattern: {self.init.pattern} is out of range for {n_pat} patterns")
        if self.integrator.method != "dopri5":
            steps = math.ceil(self.dynamics.t_max / self.integrator.dt)
            if steps > MAX_FIXED_STEPS:
                raise ValueError(
                    f"integrator.dt: t_max / dt = {steps} fixed steps, more than {MAX_FIXED_STEPS}; raise dt"
                )
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        n = self.network.n_units
        n_pat = self.patterns.n_patterns(n)
        return [(16.0 * n * n, "network.n_units", f"weights {n} x {n}"), (9.0 * n_pat * n, "patterns", "patterns")]
