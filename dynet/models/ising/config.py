"""The scenario schema of the Ising model: every table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dynet.config import ScenarioBase, Strict


class IsingLattice(Strict):
    """An L x L square lattice with periodic boundaries."""

    size: int = Field(32, ge=4, le=8192, description="L; even, so the lattice splits into two checkerboard colours.")
    coupling: float = Field(1.0, description="J in E = -J sum_<ij> s_i s_j - h sum_i s_i.")
    field: float = Field(0.0, description="External field h.")

    @model_validator(mode="after")
    def _even(self):
        if self.size % 2:
            raise ValueError(
                f"size: {self.size} is odd: a periodic lattice needs an even size to be updated in checkerboard order"
            )
        if self.coupling == 0:
            raise ValueError("coupling: must be nonzero")
        return self


class IsingDynamics(Strict):
    algorithm: Literal["metropolis", "heat-bath"] = "metropolis"
    temperature: float = Field(gt=0, description="T > 0 (units of J / k_B).")
    thermalize: int = Field(1000, ge=0, le=100_000_000, description="Sweeps discarded before measuring.")
    sweeps: int = Field(10_000, ge=1, le=1_000_000_000, description="Measured sweeps.")
    init: Literal["random", "up", "down"] = "random"


class IsingRecord(Strict):
    every: int = Field(1, ge=1, description="Record m and e every k sweeps.")
    snapshot_every: int = Field(0, ge=0, description="Store the lattice every k sweeps (0: never).")
    blocks: int = Field(20, ge=2, le=10_000, description="Blocks for the error bars of the averages.")


class IsingScenario(ScenarioBase):
    """The 2D Ising model sampled at temperature T."""

    model: Literal["ising"]
    lattice: IsingLattice = Field(default_factory=IsingLattice)
    dynamics: IsingDynamics
    record: IsingRecord = Field(default_factory=IsingRecord)

    @model_validator(mode="after")
    def _enough(self):
        if self.record.snapshot_every % self.record.every:
            raise ValueError(
                f"record.snapshot_every: {self.record.snapshot_every} must be a multiple of "
                f"record.every {self.record.every}"
            )
        if self.dynamics.sweeps // self.record.every < self.record.blocks:
            raise ValueError(
                f"record.blocks: {self.record.blocks} needs at least that many records "
                f"(dynamics.sweeps / record.every = {self.dynamics.sweeps // self.record.every})"
            )
        return self
