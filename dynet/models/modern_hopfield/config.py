"""The scenario schema of modern (continuous) Hopfield networks: every table, its defaults and its
checks, declared once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dynet.config import ScenarioBase, Strict


class ModernHopfieldNetwork(Strict):
    """The network: dimension of the state and inverse temperature."""

    dim: int = Field(ge=1, le=8192, description="Dimension d of the patterns and of the state xi.")
    beta: float = Field(1.0, gt=0, le=1e6, description="Inverse temperature beta of the softmax.")


class GaussianPatterns(Strict):
    """Random Gaussian patterns: entries N(0, 1), each pattern rescaled to unit norm if ``normalize``."""

    source: Literal["gaussian"]
    count: int = Field(ge=1, le=65536, description="Number of stored patterns N.")
    normalize: bool = Field(True, description="Rescale every pattern to unit norm (then M = max ||x_i|| = 1).")


class BinaryPatterns(Strict):
    """Random +-1 patterns (norm sqrt(d) each)."""

    source: Literal["binary"]
    count: int = Field(ge=1, le=65536, description="Number of stored patterns N.")


ModernHopfieldPatterns = Annotated[GaussianPatterns | BinaryPatterns, Field(discriminator="source")]


class NoiseCue(Strict):
    """Stored pattern ``pattern`` plus Gaussian noise of standard deviation ``std`` per component."""

    kind: Literal["noise"]
    pattern: int = Field(0, ge=0, description="Index of the cued pattern.")
    std: float = Field(0.1, ge=0, description="Standard deviation of the noise added to each component.")


class MaskCue(Strict):
    """Stored pattern ``pattern`` with ``round(fraction * d)`` components, chosen at random, set to 0."""

    kind: Literal["mask"]
    pattern: int = Field(0, ge=0, description="Index of the cued pattern.")
    fraction: float = Field(0.5, ge=0, le=1, description="Fraction of components masked to zero.")


class MeanCue(Strict):
    """The mean of all stored patterns (no cued pattern)."""

    kind: Literal["mean"]


ModernHopfieldCue = Annotated[NoiseCue | MaskCue | MeanCue, Field(discriminator="kind")]


class ModernHopfieldDynamics(Strict):
    max_steps: int = Field(100, ge=1, le=100_000, description="Most updates xi <- X softmax(beta X^T xi).")
    tol: float = Field(1e-12, ge=0, description="Stop once ||xi_new - xi|| <= tol.")


class ModernHopfieldRecord(Strict):
    state: bool = Field(False, description="Record the state xi (d values) at every step.")
    weights: bool = Field(False, description="Record the softmax weights p = softmax(beta X^T xi) (N values) per step.")


class ModernHopfieldScenario(ScenarioBase):
    """A modern Hopfield network retrieving a stored pattern from a cue."""

    model: Literal["modern-hopfield"]
    network: ModernHopfieldNetwork
    patterns: ModernHopfieldPatterns
    cue: ModernHopfieldCue
    dynamics: ModernHopfieldDynamics = Field(default_factory=ModernHopfieldDynamics)
    record: ModernHopfieldRecord = Field(default_factory=ModernHopfieldRecord)

    @model_validator(mode="after")
    def _cue_in_range(self):
        pattern = getattr(self.cue, "pattern", None)
        if pattern is not None and pattern >= self.patterns.count:
            raise ValueError(f"cue.pattern: {pattern} is out of range for {self.patterns.count} patterns")
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        d, n = self.network.dim, self.patterns.count
        # the driver runs in blocks of about one chunk of recorded rows, so the patterns dominate
        return [(8.0 * d * n, "patterns.count", f"{n} patterns of dimension {d}")]
