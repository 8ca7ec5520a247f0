"""Learning-rate schedules in dynet.train.schedules.

Hand-computed values at chosen steps, torch.optim.lr_scheduler when torch is
importable, ReduceLROnPlateau through a scripted metric sequence, warm-up, and the
validation messages.
"""

import math
import warnings

import numpy as np
import pytest
from peers import require

from dynet.train import schedules as S
from dynet.train.schedules import ReduceLROnPlateau, lr_array, schedule_lr, validate_schedule


def at(spec, *steps):
    return [schedule_lr(spec, t) for t in steps]


# ---------------------------------------------------------------------------
# hand-computed values
# ---------------------------------------------------------------------------


def test_constant_inverse_time_and_min():
    assert at({"name": "constant", "lr": 0.3}, 0, 7, 1000) == [0.3, 0.3, 0.3]
    # lr / (1 + decay * t): 0.1 / (1 + 0.5 * 4) = 0.1 / 3
    assert at({"name": "inverse_time", "lr": 0.1, "decay": 0.5}, 0, 4) == pytest.approx([0.1, 0.1 / 3], rel=1e-15)
    # min(lr, c / t) with lr 0.5, c 2: t=0 -> 0.5 (c/0 = inf), t=3 -> 0.5, t=4 -> 0.5, t=8 -> 0.25
    assert at({"name": "min", "lr": 0.5, "c": 2.0}, 0, 3, 4, 8) == [0.5, 0.5, 0.5, 0.25]


def test_step_and_multistep():
    spec = {"name": "step", "lr": 0.1, "step_size": 3, "gamma": 0.5}
    assert at(spec, 0, 2, 3, 5, 6) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025], rel=1e-15)
    spec = {"name": "multistep", "lr": 1.0, "milestones": [2, 5], "gamma": 0.1}
    assert at(spec, 0, 1, 2, 4, 5, 100) == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01], rel=1e-15)
    assert schedule_lr({"name": "step", "lr": 1.0, "step_size": 1}, 2) == pytest.approx(0.01)


def test_exponential():
    spec = {"name": "exponential", "lr": 2.0, "gamma": 0.5}
    assert at(spec, 0, 1, 3) == [2.0, 1.0, 0.25]


def test_cosine_annealing():
    spec = {"name": "cosine", "lr": 0.1, "T_max": 4, "eta_min": 0.02}
    # eta_min + (lr - eta_min) (1 + cos(pi t / 4)) / 2
    assert at(spec, 0, 1, 2, 4) == pytest.approx([0.1, 0.02 + 0.08 * (1 + math.sqrt(0.5)) / 2, 0.06, 0.02], rel=1e-14)
    assert schedule_lr(spec, 6) == pytest.approx(0.06, rel=1e-14)  # continues the cosine
    assert schedule_lr(spec, 8) == pytest.approx(0.1, rel=1e-14)


def test_cosine_warm_restarts():
    # T_0 = 2, T_mult = 2: cycles [0, 2), [2, 6), [6, 14), ...
    spec = {"name": "cosine_restarts", "lr": 1.0, "T_0": 2, "T_mult": 2}
    values = at(spec, 0, 1, 2, 3, 4, 5, 6, 10, 14)
    expected = [1.0, 0.5, 1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2, 1.0, 0.5, 1.0]
    assert values == pytest.approx(expected, rel=1e-14, abs=1e-16)
    spec = {"name": "cosine_restarts", "lr": 1.0, "T_0": 3, "eta_min": 0.1}
    assert at(spec, 0, 3, 6, 4) == pytest.approx([1.0, 1.0, 1.0, 0.1 + 0.9 * 0.75], rel=1e-14)


def test_cyclic_modes():
    base = {"name": "cyclic", "base_lr": 0.1, "max_lr": 1.0, "step_size_up": 2}
    assert at(base, 0, 1, 2, 3, 4, 6) == pytest.approx([0.1, 0.55, 1.0, 0.55, 0.1, 1.0], rel=1e-14)
    # triangular2 halves the amplitude each cycle: cycle 2 peaks at 0.1 + 0.45
    tri2 = {**base, "mode": "triangular2"}
    assert at(tri2, 2, 6, 10) == pytest.approx([1.0, 0.55, 0.325], rel=1e-14)
    # exp_range scales by gamma ** t: t = 2 -> 0.1 + 0.9 * 0.25
    exp = {**base, "mode": "exp_range", "gamma": 0.5}
    assert at(exp, 1, 2) == pytest.approx([0.1 + 0.9 * 0.5 * 0.5, 0.1 + 0.9 * 0.25], rel=1e-14)
    # asymmetric: 1 step up, 3 down (ratio 1/4): t = 2 -> x = 1/2, s = (1/2 - 1) / (1/4 - 1) = 2/3
    asym = {**base, "step_size_up": 1, "step_size_down": 3}
    assert at(asym, 1, 2, 4) == pytest.approx([1.0, 0.1 + 0.9 * 2 / 3, 0.1], rel=1e-14)


def test_one_cycle_cos_and_linear():
    # max_lr 1, total 10, pct 0.3: initial 0.04, min 4e-6; phase ends 2.0 and 9.0
    spec = {"name": "onecycle", "max_lr": 1.0, "total_steps": 10}
    values = at(spec, 0, 1, 2, 9)
    assert values == pytest.approx([0.04, 0.52, 1.0, 4e-6], rel=1e-12)
    # t = 4 in phase 2: pct = (4 - 2) / 7, cos anneal from 1 to 4e-6
    pct = 2 / 7
    assert schedule_lr(spec, 4) == pytest.approx(4e-6 + (1 - 4e-6) / 2 * (1 + math.cos(math.pi * pct)), rel=1e-14)
    lin = {**spec, "anneal_strategy": "linear"}
    assert schedule_lr(lin, 4) == pytest.approx(1 + (4e-6 - 1) * pct, rel=1e-14)
    assert schedule_lr(lin, 1) == pytest.approx(0.52, rel=1e-14)


def test_one_cycle_three_phase():
    # total 20, pct 0.25: ends 4.0, 8.0, 19.0; initial 0.4 (div 25 of 10), min 0.4 / 1e4
    spec = {
        "name": "onecycle",
        "max_lr": 10.0,
        "total_steps": 20,
        "pct_start": 0.25,
        "three_phase": True,
        "anneal_strategy": "linear",
    }
    assert at(spec, 0, 2, 4, 6, 8, 19) == pytest.approx([0.4, 5.2, 10.0, 5.2, 0.4, 4e-5], rel=1e-12)


def test_one_cycle_refuses_steps_past_total():
    spec = {"name": "onecycle", "max_lr": 1.0, "total_steps": 10}
    assert lr_array(spec, 11).shape == (11,)  # PyTorch allows last_epoch == total_steps
    with pytest.raises(ValueError, match="past total_steps=10"):
        lr_array(spec, 12)


def test_warmup_in_front_of_a_schedule():
    # 4 warm-up steps from 0.25 * eta_0, then StepLR starting at its own t = 0
    spec = {"name": "step", "lr": 0.2, "step_size": 2, "gamma": 0.5, "warmup_steps": 4, "warmup_start_factor": 0.25}
    expected = [0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2, 0.1, 0.1, 0.05]
    np.testing.assert_allclose(lr_array(spec, 9), expected, rtol=1e-14)
    # default start factor 1/3, like torch's LinearLR
    spec = {"name": "constant", "lr": 0.3, "warmup_steps": 2}
    np.testing.assert_allclose(lr_array(spec, 3), [0.1, 0.2, 0.3], rtol=1e-14)
    assert S.warmup_factor(5, 0) == 1.0


def test_lr_array_offsets_and_dtype():
    spec = {"name": "exponential", "lr": 1.0, "gamma": 0.5}
    full = lr_array(spec, 10)
    assert full.dtype == np.float64
    np.testing.assert_array_equal(lr_array(spec, 4, start=6), full[6:])
    f32 = lr_array(spec, 10, dtype=np.float32)
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32, full.astype(np.float32))
    assert lr_array(spec, 0).shape == (0,)


def test_lr_array_rejects_plateau_and_invalid_specs():
    with pytest.raises(ValueError, match="depends on a metric"):
        lr_array({"name": "plateau", "lr": 0.1}, 5)
    with pytest.raises(ValueError) as err:
        lr_array({"name": "cosine", "lr": -1.0, "T_max": 0}, 5)
    assert str(err.value).splitlines() == [
        "lr: input should be greater than 0 (got -1.0)",
        "T_max: input should be greater than or equal to 1 (got 0)",
    ]


# ---------------------------------------------------------------------------
# ReduceLROnPlateau
# ---------------------------------------------------------------------------

PLATEAU_METRICS = [1.0, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]


def test_plateau_scripted_sequence():
    # patience 2, factor 0.5, rel threshold 0.1, cooldown 1, min_lr 0.02:
    # epoch 1 sets best = 1.0; 0.95 is not < 0.9 so epochs 2-4 are bad -> halve at epoch 4,
    # cooldown eats epoch 5's count (0.8 is a new best anyway); 6-8 bad -> 0.025 at 8;
    # epoch 9 in cooldown; 10-12 bad -> max(0.0125, 0.02) = 0.02 at 12;
    # 13 cooldown; 14-16 bad -> max(0.01, 0.02) = 0.02: no change (not more than eps).
    sched = ReduceLROnPlateau(0.1, factor=0.5, patience=2, threshold=0.1, cooldown=1, min_lr=0.02)
    lrs = [sched.step(m) for m in PLATEAU_METRICS]
    assert lrs == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02, 0.02], rel=1e-15
    )
    assert sched.best == 0.8
    assert sched.last_epoch == len(PLATEAU_METRICS)


def test_plateau_max_abs_and_patience_zero():
    # mode max, abs threshold 0.05, patience 0: every epoch not above best + 0.05 cuts lr
    sched = ReduceLROnPlateau(1.0, mode="max", threshold_mode="abs", threshold=0.05, patience=0, factor=0.1)
    lrs = [sched.step(m) for m in [0.5, 0.54, 0.6, 0.6, 0.7]]
    assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01], rel=1e-15)


def test_plateau_eps_blocks_tiny_reductions():
    sched = ReduceLROnPlateau(1e-8, patience=0, eps=1e-8)
    assert [sched.step(m) for m in [1.0, 2.0]] == [1e-8, 1e-8]


def test_plateau_from_spec_and_validation():
    sched = ReduceLROnPlateau.from_spec({"name": "plateau", "lr": 0.5, "patience": 1})
    assert sched.patience == 1 and sched.lr == 0.5 and sched.factor == 0.1
    with pytest.raises(ValueError) as err:
        ReduceLROnPlateau(0.1, mode="mean", factor=1.0, patience=-1)
    assert str(err.value).splitlines() == [
        "mode: input should be 'min' or 'max' (got 'mean')",
        "factor: input should be less than 1 (got 1.0)",
        "patience: input should be greater than or equal to 0 (got -1)",
    ]


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


def test_schedule_validation_messages():
    assert validate_schedule({"name": "cosin", "lr": 0.1}) == [
        "name: unknown schedule 'cosin' (did you mean 'cosine'?)"
    ]
    assert validate_schedule({"lr": 0.1}) == [
        "name: required (one of constant, inverse_time, min, step, multistep, exponential, "
        "cosine, cosine_restarts, cyclic, onecycle, plateau)"
    ]
    assert validate_schedule({"name": "step", "lr": 0.1}) == ["step_size: required key is missing"]
    assert validate_schedule({"name": "step", "lr": 0.1, "step_size": 2, "gama": 0.5}) == [
        "gama: unknown key (did you mean 'gamma'?)"
    ]
    assert validate_schedule({"name": "step", "lr": 0.1, "step_size": 2.5}) == [
        "step_size: input should be a valid integer (got 2.5)"
    ]
    assert validate_schedule({"name": "multistep", "lr": 0.1, "milestones": [30, 10]}) == [
        "milestones: must be strictly increasing (got [30, 10])"
    ]
    assert validate_schedule({"name": "exponential", "lr": 0.1, "gamma": 0.0}) == [
        "gamma: input should be greater than 0 (got 0.0)"
    ]
    assert validate_schedule({"name": "cyclic", "base_lr": 0.1, "max_lr": 1.0, "mode": "triangle"}) == [
        "mode: input should be 'triangular', 'triangular2' or 'exp_range' (got 'triangle') (did you mean 'triangular'?)"
    ]
    assert validate_schedule({"name": "onecycle", "max_lr": 1.0, "total_steps": 10, "pct_start": 0.1}) == [
        "pct_start: pct_start * total_steps must not be 1 (the first phase would be empty; "
        "got pct_start=0.1, total_steps=10)"
    ]
    assert validate_schedule(
        {"name": "onecycle", "max_lr": 1.0, "total_steps": 100, "pct_start": 0.6, "three_phase": True}
    ) == [
        "pct_start: three_phase needs 2 * pct_start * total_steps - 2 < total_steps - 1 "
        "(got pct_start=0.6, total_steps=100)"
    ]
    assert validate_schedule(
        {"name": "cosine", "lr": 0.1, "T_max": 10, "warmup_steps": -1, "warmup_start_factor": 0.0}
    ) == [
        "warmup_steps: input should be greater than or equal to 0 (got -1)",
        "warmup_start_factor: input should be greater than 0 (got 0.0)",
    ]
    assert validate_schedule({"name": "plateau", "lr": 0.1, "warmup_steps": 3}) == [
        "warmup_steps: unknown key "
        "(allowed: cooldown, eps, factor, lr, min_lr, mode, name, patience, per, threshold, threshold_mode)"
    ]


def test_valid_specs_pass():
    specs = [
        {"name": "constant", "lr": 0.1},
        {"name": "min", "lr": 0.1, "c": 1.0},
        {"name": "cosine_restarts", "lr": 0.1, "T_0": 10, "T_mult": 2},
        {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_down": None},
        {"name": "onecycle", "max_lr": 0.1, "total_steps": 100, "three_phase": True},
        {"name": "plateau", "lr": 0.1, "mode": "max"},
        {"name": "cosine", "lr": 0.1, "T_max": 10, "warmup_steps": 5, "warmup_start_factor": 0.01},
    ]
    for spec in specs:
        assert validate_schedule(spec) == []


# ---------------------------------------------------------------------------
# against torch.optim.lr_scheduler
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return require("torch")


def torch_lrs(torch, make, n):
    """lr used at each of n optimizer steps with scheduler.step() after each."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt, torch.optim.lr_scheduler)
        out = []
        for k in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if k < n - 1:
                sched.step()
    return np.array(out)


TORCH_CASES = [
    ({"name": "step", "lr": 0.1, "step_size": 3, "gamma": 0.5}, lambda o, L: L.StepLR(o, 3, 0.5)),
    (
        {"name": "multistep", "lr": 0.1, "milestones": [2, 5, 9], "gamma": 0.3},
        lambda o, L: L.MultiStepLR(o, [2, 5, 9], 0.3),
    ),
    ({"name": "exponential", "lr": 0.1, "gamma": 0.9}, lambda o, L: L.ExponentialLR(o, 0.9)),
    ({"name": "cosine", "lr": 0.1, "T_max": 7, "eta_min": 0.001}, lambda o, L: L.CosineAnnealingLR(o, 7, 0.001)),
    (
        {"name": "cosine_restarts", "lr": 0.1, "T_0": 3, "T_mult": 2, "eta_min": 0.01},
        lambda o, L: L.CosineAnnealingWarmRestarts(o, 3, 2, 0.01),
    ),
    ({"name": "cosine_restarts", "lr": 0.1, "T_0": 4}, lambda o, L: L.CosineAnnealingWarmRestarts(o, 4)),
    (
        {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "step_size_down": 5},
        lambda o, L: L.CyclicLR(o, 0.01, 0.1, 3, 5),
    ),
    (
        {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "triangular2"},
        lambda o, L: L.CyclicLR(o, 0.01, 0.1, 3, mode="triangular2"),
    ),
    (
        {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "exp_range", "gamma": 0.9},
        lambda o, L: L.CyclicLR(o, 0.01, 0.1, 3, mode="exp_range", gamma=0.9),
    ),
    ({"name": "onecycle", "max_lr": 0.1, "total_steps": 29}, lambda o, L: L.OneCycleLR(o, 0.1, 29)),
    (
        {"name": "onecycle", "max_lr": 0.1, "total_steps": 29, "pct_start": 0.0},
        lambda o, L: L.OneCycleLR(o, 0.1, 29, pct_start=0.0),
    ),
    (
        {
            "name": "onecycle",
            "max_lr": 0.1,
            "total_steps": 29,
            "pct_start": 0.25,
            "anneal_strategy": "linear",
            "three_phase": True,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
        lambda o, L: L.OneCycleLR(
            o,
            0.1,
            29,
            pct_start=0.25,
            anneal_strategy="linear",
            three_phase=True,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
    ),
    (
        {"name": "step", "lr": 0.1, "step_size": 3, "gamma": 0.5, "warmup_steps": 4, "warmup_start_factor": 0.1},
        lambda o, L: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=4), L.StepLR(o, 3, 0.5)], [4]),
    ),
    (
        {"name": "cosine", "lr": 0.1, "T_max": 6, "warmup_steps": 3},
        lambda o, L: L.SequentialLR(o, [L.LinearLR(o, total_iters=3), L.CosineAnnealingLR(o, 6)], [3]),
    ),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[f"{c[0]['name']}-{k}" for k, c in enumerate(TORCH_CASES)])
def test_matches_torch(torch, case):
    spec, make = case
    n = 30
    np.testing.assert_allclose(lr_array(spec, n), torch_lrs(torch, make, n), rtol=1e-12, atol=0)


def test_plateau_matches_torch(torch):
    configs = [
        dict(factor=0.5, patience=2, threshold=0.1, cooldown=1, min_lr=0.02),
        dict(mode="max", threshold_mode="abs", threshold=0.05, patience=0),
        dict(patience=1, threshold=0.0, cooldown=2, eps=1e-3),
    ]
    rng = np.random.default_rng(5)
    metrics = list(PLATEAU_METRICS) + list(rng.uniform(0.5, 1.0, size=30))
    for cfg in configs:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1)
        ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **cfg)
        ours = ReduceLROnPlateau(0.1, **cfg)
        for m in metrics:
            ref.step(m)
            assert ours.step(m) == opt.param_groups[0]["lr"]
