"""The scenario schema of Hopfield networks: every table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from dynet.config import ScenarioBase, Strict


class HopfieldNetwork(Strict):
    """The network: size, learning rule, thresholds."""

    n_units: int | None = Field(
        None,
        ge=2,
        le=65536,
        description="Number of units N; required for random patterns, inferred from images and files.",
    )
    rule: Literal["hebbian", "storkey", "pseudoinverse"] = Field(
        "hebbian",
        description="Learning rule: Hebbian (1/N sum xi xi^T), Storkey (1997) or pseudo-inverse (projection).",
    )
    threshold: float = Field(0.0, description="Threshold theta of every unit; E = -1/2 s^T W s + theta^T s.")


class RandomPatterns(Strict):
    """Random +-1 patterns, optionally biased."""

    source: Literal["random"]
    count: int | None = Field(None, ge=1, le=65536, description="Number of patterns P (give count or load).")
    load: float | None = Field(None, gt=0, le=4, description="Load alpha = P/N; P = round(alpha * N).")
    bias: float = Field(0.0, gt=-1, lt=1, description="Mean activity a: P(xi = +1) = (1 + a) / 2.")

    @model_validator(mode="after")
    def _count_or_load(self):
        if (self.count is None) == (self.load is None):
            raise ValueError("give exactly one of 'count' and 'load'")
        return self

    def n_patterns(self, n_units: int) -> int:
        """P: ``count``, or ``round(load * n_units)``."""
        return self.count if self.count is not None else int(round(self.load * n_units))


class ImagePatterns(Strict):
    """Binarized images from a dataset bundled with dynet."""

    source: Literal["images"]
    #: N: the digits are 8 x 8 images.
    N_UNITS: ClassVar[int] = 64
    dataset: Literal["digits"] = Field("digits", description="digits: 8x8 handwritten digits (UCI, CC BY 4.0), N = 64.")
    count: int = Field(10, ge=1, le=10, description="Store the mean images of digits 0 .. count-1, binarized.")


class FilePatterns(Strict):
    """Patterns from a .npy/.npz file: shape (P, N), values in {-1, +1} or {0, 1}."""

    source: Literal["file"]
    path: str = Field(description="Path to the file, relative to the scenario file.")
    key: str | None = Field(None, description="Array name inside a .npz (default: its only array).")


HopfieldPatterns = Annotated[RandomPatterns | ImagePatterns | FilePatterns, Field(discriminator="source")]


class FlipInit(Strict):
    """Start from stored pattern ``pattern`` with ``round(fraction * N)`` bits flipped."""

    kind: Literal["flip"]
    pattern: int = Field(0, ge=0, description="Index of the cued pattern.")
    fraction: float = Field(0.1, ge=0, le=1, description="Fraction of bits flipped, chosen at random.")


#: ``init.pattern`` of a Hopfield run: one index, a list of distinct indices, or "all" patterns
Cues = int | list[int] | Literal["all"]
CUES_HELP = (
    "Index of the cued pattern; or a list of distinct indices, or 'all', to cue each of them in turn "
    "on the same network (one trajectory per cue along a 'cue' dimension)."
)


def check_cues(value):
    """``init.pattern``: an index >= 0, or a non-empty list of distinct indices >= 0, or 'all'."""

    def index(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not (index(value) or value == "all" or (isinstance(value, list) and all(index(v) for v in value))):
        raise ValueError(f"expected a pattern index, a list of indices or 'all' (got {value!r})")
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list cues nothing (give indices, or 'all')")
        if min(value) < 0:
            raise ValueError(f"{min(value)} is not a pattern index (indices are >= 0)")
        if len(set(value)) != len(value):
            dup = next(v for v in value if value.count(v) > 1)
            raise ValueError(f"{dup} is listed twice (each pattern is cued once)")
    elif isinstance(value, int) and value < 0:
        raise ValueError(f"{value} is not a pattern index (indices are >= 0)")
    return value


class FlipCues(FlipInit):
    """Start from stored pattern ``pattern`` with ``round(fraction * N)`` bits flipped; a list of
    patterns (or "all") runs one trajectory per cued pattern on the same network."""

    pattern: Cues = Field(0, description=CUES_HELP)

    _cues = field_validator("pattern", mode="before")(check_cues)


class MaskInit(Strict):
    """Start from stored pattern ``pattern`` with a part of it masked; a list of patterns (or "all")
    runs one trajectory per cued pattern on the same network."""

    kind: Literal["mask"]
    pattern: Cues = Field(0, description=CUES_HELP)
    fraction: float = Field(0.25, ge=0, le=1, description="Fraction of units masked.")
    region: Literal["tail", "head", "random"] = Field(
        "tail", description="Which units: the last, the first, or random."
    )
    fill: Literal["random", "negative", "positive"] = Field("random", description="What masked units are set to.")

    _cues = field_validator("pattern", mode="before")(check_cues)


class RandomInit(Strict):
    """Start from a random state, P(s_i = +1) = (1 + bias) / 2."""

    kind: Literal["random"]
    bias: float = Field(0.0, gt=-1, lt=1)


HopfieldInit = Annotated[FlipCues | MaskInit | RandomInit, Field(discriminator="kind")]


class Anneal(Strict):
    """Temperature schedule from t_start to t_end over ``sweeps`` sweeps, then ``t_after``."""

    schedule: Literal["linear", "geometric"]
    t_start: float = Field(gt=0)
    t_end: float = Field(ge=0)
    sweeps: int | None = Field(None, ge=1, description="Length of the schedule (default: max_sweeps).")
    t_after: float | None = Field(
        None,
        ge=0,
        description="Temperature after the schedule (default: t_end); 0 lets the network settle into a fixed point.",
    )

    @model_validator(mode="after")
    def _geometric_positive(self):
        if self.schedule == "geometric" and self.t_end <= 0:
            raise ValueError("t_end: a geometric schedule needs t_end > 0")
        return self


class HopfieldDynamics(Strict):
    update: Literal["synchronous", "async-permutation", "async-sequential", "async-random"] = Field(
        "async-permutation",
        description="Synchronous, or asynchronous in a fresh random permutation per sweep, "
        "in fixed sequential order, or random with replacement.",
    )
    temperature: float = Field(0.0, ge=0, description="Glauber temperature T; 0 is deterministic.")
    anneal: Anneal | None = None
    max_sweeps: int = Field(100, ge=1, le=10_000_000)
    stop_at_fixed_point: bool = Field(True, description="Stop at a fixed point (or a synchronous 2-cycle) at T = 0.")

    @model_validator(mode="after")
    def _one_temperature(self):
        if self.anneal is not None and self.temperature != 0:
            raise ValueError("give either 'temperature' or 'anneal', not both")
        return self


class HopfieldRecord(Strict):
    every: int = Field(1, ge=1, description="Record every k sweeps (and the last sweep).")
    state: bool = Field(True, description="Record the state (int8) at each recorded sweep.")
    overlaps: bool = Field(True, description="Record the overlap with every stored pattern.")
    weights: bool = Field(False, description="Store the weight matrix (N^2 values per run).")


class HopfieldScenario(ScenarioBase):
    """A Hopfield network recalling stored patterns."""

    model: Literal["hopfield"]
    network: HopfieldNetwork = Field(default_factory=HopfieldNetwork)
    patterns: HopfieldPatterns
    init: HopfieldInit
    dynamics: HopfieldDynamics = Field(default_factory=HopfieldDynamics)
    record: HopfieldRecord = Field(default_factory=HopfieldRecord)

    @model_validator(mode="after")
    def _sizes(self):
        p = self.patterns
        if isinstance(p, RandomPatterns):
            if self.network.n_units is None:
                raise ValueError("network.n_units: required with random patterns")
            n_pat = p.n_patterns(self.network.n_units)
            if n_pat < 1:
                raise ValueError(f"patterns.load: {p.load} gives no pattern at N = {self.network.n_units}")
            problem = cue_problem(getattr(self.init, "pattern", None), n_pat)
            if problem:
                raise ValueError(problem)
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        p = self.patterns
        if isinstance(p, RandomPatterns):
            n = self.network.n_units
            n_pat = p.n_patterns(n)
        elif isinstance(p, ImagePatterns):
            n, n_pat = ImagePatterns.N_UNITS, p.count
        else:
            return []  # from a file: as large as the file
        per_synapse = {"hebbian": 6, "storkey": 40, "pseudoinverse": 24}[self.network.rule]  # the rule's work arrays
        return [
            (per_synapse * n * n, "network.n_units", f"{self.network.rule} weights {n} x {n}"),
            (12 * n_pat * n, "patterns", f"{n_pat} patterns of {n} units"),
        ]


def cue_list(pattern: Cues | None, n_patterns: int) -> list[int] | None:
    """The patterns a multi-cue run cues, in order ("all": 0 .. P-1); None for one cue (an int) or
    a random start."""
    if pattern == "all":
        return list(range(n_patterns))
    return list(pattern) if isinstance(pattern, list) else None


def cue_problem(pattern: Cues | None, n_patterns: int) -> str | None:
    """``init.pattern``'s problem with a network of ``n_patterns`` patterns (None: fine)."""
    if pattern is None or pattern == "all":
        return None
    bad = [p for p in (pattern if isinstance(pattern, list) else [pattern]) if p >= n_patterns]
    if not bad:
        return None
    return f"init.pattern: {bad[0]} is out of range for {n_patterns} patterns"
