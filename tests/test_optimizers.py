"""Optimizer steps in dynet.train.optimizers.

Each optimizer is checked against its recurrence written out by hand below (plain
Python floats, from the algorithms in the torch.optim docs), against torch.optim
itself when torch is importable, and on a convex quadratic.
"""

import math

import numpy as np
import pytest
from numba import njit
from peers import require

from dynet.train import optimizers as O
from dynet.train.optimizers import OPTIMIZERS, Optimizer

P0 = [1.0, -2.0, 0.5]
# A fixed gradient sequence; the third coordinate has a large gradient first, so
# exp_avg_sq later decreases there and AMSGrad's maximum matters.
GRADS = [
    [0.5, -1.0, 2.0],
    [0.3, 0.2, -0.7],
    [-0.4, 1.5, 0.1],
    [1.0, -0.3, -0.2],
    [0.05, 0.6, -0.1],
]


# ---------------------------------------------------------------------------
# hand-written recurrences (one scalar element at a time)
# ---------------------------------------------------------------------------


def ref_sgd(p0, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    out = []
    for i, p in enumerate(p0):
        buf = None
        for g_t in grads:
            g = g_t[i] + weight_decay * p
            if momentum != 0.0:
                buf = g if buf is None else momentum * buf + (1.0 - dampening) * g
                g = g + momentum * buf if nesterov else buf
            p = p - lr * g
        out.append(p)
    return out


def ref_adagrad(p0, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    out = []
    for i, p in enumerate(p0):
        s = initial_accumulator_value
        for t, g_t in enumerate(grads, start=1):
            g = g_t[i] + weight_decay * p
            clr = lr / (1.0 + (t - 1) * lr_decay)
            s = s + g * g
            p = p - clr * g / (math.sqrt(s) + eps)
        out.append(p)
    return out


def ref_adadelta(p0, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    out = []
    for i, p in enumerate(p0):
        v = 0.0
        u = 0.0
        for g_t in grads:
            g = g_t[i] + weight_decay * p
            v = rho * v + (1.0 - rho) * g * g
            delta = math.sqrt(u + eps) / math.sqrt(v + eps) * g
            u = rho * u + (1.0 - rho) * delta * delta
            p = p - lr * delta
        out.append(p)
    return out


def ref_rmsprop(p0, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    out = []
    for i, p in enumerate(p0):
        v = 0.0
        g_ave = 0.0
        b = 0.0
        for g_t in grads:
            g = g_t[i] + weight_decay * p
            v = alpha * v + (1.0 - alpha) * g * g
            v_tilde = v
            if centered:
                g_ave = alpha * g_ave + (1.0 - alpha) * g
                v_tilde = v - g_ave * g_ave
            if momentum > 0.0:
                b = momentum * b + g / (math.sqrt(v_tilde) + eps)
                p = p - lr * b
            else:
                p = p - lr * g / (math.sqrt(v_tilde) + eps)
        out.append(p)
    return out


def ref_adam(
    p0, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False, lrs=None
):
    b1, b2 = betas
    out = []
    for i, p in enumerate(p0):
        m = 0.0
        v = 0.0
        v_max = 0.0
        for t, g_t in enumerate(grads, start=1):
            lr_t = lr if lrs is None else lrs[t - 1]
            g = g_t[i]
            if decoupled:
                p = p * (1.0 - lr_t * weight_decay)
            else:
                g = g + weight_decay * p
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * g * g
            m_hat = m / (1.0 - b1**t)
            if amsgrad:
                v_max = max(v_max, v)
                v_hat = v_max / (1.0 - b2**t)
            else:
                v_hat = v / (1.0 - b2**t)
            p = p - lr_t * m_hat / (math.sqrt(v_hat) + eps)
        out.append(p)
    return out


def ref_adamw(p0, grads, weight_decay=1e-2, **kw):
    return ref_adam(p0, grads, weight_decay=weight_decay, decoupled=True, **kw)


REFERENCES = {
    "sgd": ref_sgd,
    "adagrad": ref_adagrad,
    "adadelta": ref_adadelta,
    "rmsprop": ref_rmsprop,
    "adam": ref_adam,
    "adamw": ref_adamw,
}

CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("adadelta", {}),
    ("adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.05}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.5}),
    ("rmsprop", {"lr": 0.01, "centered": True}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.9, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "amsgrad": True}),
    ("adam", {"lr": 0.01, "betas": (0.9, 0.9), "amsgrad": True}),
    ("adam", {"lr": 0.01, "betas": (0.9, 0.9), "amsgrad": True, "weight_decay": 0.05, "eps": 1e-6}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "betas": (0.85, 0.9), "weight_decay": 0.1, "amsgrad": True}),
]


def case_id(case):
    name, hp = case
    return name + "-" + ("-".join(f"{k}={v}" for k, v in hp.items()) or "defaults")


def run_optimizer(name, hp, dtype, grads=GRADS, p0=P0, lrs=None):
    p = np.array(p0, dtype=dtype)
    opt = Optimizer(name, [p], **hp)
    for k, g in enumerate(grads):
        opt.step([np.array(g, dtype=dtype)], lr=None if lrs is None else lrs[k])
    return p, opt


# ---------------------------------------------------------------------------
# against the hand-written recurrences
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_hand_recurrence(case):
    name, hp = case
    p, _ = run_optimizer(name, hp, np.float64)
    expected = REFERENCES[name](P0, GRADS, **hp)
    np.testing.assert_allclose(p, expected, rtol=1e-12, atol=0)


def test_sgd_momentum_by_hand_numbers():
    # p0 = 1, g = 0.5 then -1, lr = 0.1, momentum = 0.9, dampening = 0.1:
    # b1 = g1 = 0.5 (no dampening at the first step); p1 = 1 - 0.05 = 0.95
    # b2 = 0.9 * 0.5 + 0.9 * (-1) = -0.45;           p2 = 0.95 + 0.045 = 0.995
    p = np.array([1.0])
    opt = Optimizer("sgd", [p], lr=0.1, momentum=0.9, dampening=0.1)
    opt.step([np.array([0.5])])
    assert p[0] == pytest.approx(0.95, rel=1e-15)
    assert opt.state("momentum_buffer")[0] == 0.5
    opt.step([np.array([-1.0])])
    assert opt.state("momentum_buffer")[0] == pytest.approx(-0.45, rel=1e-15)
    assert p[0] == pytest.approx(0.995, rel=1e-15)


def test_sgd_nesterov_by_hand_numbers():
    # g1 = 1, momentum 0.5, lr 0.1: b1 = 1, step direction g + 0.5 b = 1.5 -> p1 = -0.15
    # g2 = 1: b2 = 0.5 + 1 = 1.5, direction 1 + 0.75 = 1.75 -> p2 = -0.15 - 0.175 = -0.325
    p = np.array([0.0])
    opt = Optimizer("sgd", [p], lr=0.1, momentum=0.5, nesterov=True)
    opt.step([np.array([1.0])])
    assert p[0] == pytest.approx(-0.15, rel=1e-15)
    opt.step([np.array([1.0])])
    assert p[0] == pytest.approx(-0.325, rel=1e-15)


def test_adam_first_step_is_lr_times_sign():
    # After bias correction m_hat = g and v_hat = g^2, so p1 = p0 - lr * g / (|g| + eps).
    p = np.array([0.0, 0.0])
    Optimizer("adam", [p], lr=0.01).step([np.array([4.0, -0.25])])
    np.testing.assert_allclose(p, [-0.01 * 4.0 / (4.0 + 1e-8), 0.01 * 0.25 / (0.25 + 1e-8)], rtol=1e-14)


def test_adagrad_lr_decay_by_hand_numbers():
    # g = 1 twice, lr 0.1, lr_decay 1, eps 0: step 1 clr = 0.1, s = 1 -> p = -0.1;
    # step 2 clr = 0.1 / 2, s = 2 -> p = -0.1 - 0.05 / sqrt(2)
    p = np.array([0.0])
    opt = Optimizer("adagrad", [p], lr=0.1, lr_decay=1.0, eps=1e-300)
    opt.step([np.array([1.0])])
    opt.step([np.array([1.0])])
    assert p[0] == pytest.approx(-0.1 - 0.05 / math.sqrt(2.0), rel=1e-14)
    assert opt.state("sum")[0] == 2.0


def test_amsgrad_keeps_the_running_maximum():
    # beta2 = 0.9 lets exp_avg_sq fall once the gradients of coordinate 2 shrink
    p, opt = run_optimizer("adam", {"lr": 0.01, "betas": (0.9, 0.9), "amsgrad": True}, np.float64)
    v = opt.state("exp_avg_sq")
    v_max = opt.state("max_exp_avg_sq")
    assert np.all(v_max >= v)
    assert v_max[2] > v[2]  # the large first gradient of coordinate 2 is remembered
    plain, _ = run_optimizer("adam", {"lr": 0.01, "betas": (0.9, 0.9)}, np.float64)
    assert abs(p[2] - plain[2]) > 1e-4


def test_adamw_differs_from_adam_with_l2():
    hp = {"lr": 0.01, "weight_decay": 0.1}
    adamw, _ = run_optimizer("adamw", hp, np.float64)
    adam_l2, _ = run_optimizer("adam", hp, np.float64)
    np.testing.assert_allclose(adamw, ref_adamw(P0, GRADS, **hp), rtol=1e-12)
    np.testing.assert_allclose(adam_l2, ref_adam(P0, GRADS, **hp), rtol=1e-12)
    assert np.max(np.abs(adamw - adam_l2)) > 1e-3
    # without weight decay they are the same algorithm
    a, _ = run_optimizer("adamw", {"lr": 0.01, "weight_decay": 0.0}, np.float64)
    b, _ = run_optimizer("adam", {"lr": 0.01}, np.float64)
    np.testing.assert_array_equal(a, b)


def test_adamw_decay_alone_with_zero_gradient():
    # g = 0: the moments stay 0, so the update is 0 and p *= (1 - lr * wd) each step.
    p = np.array([2.0, -1.0])
    opt = Optimizer("adamw", [p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.step([np.zeros(2)])
    np.testing.assert_allclose(p, np.array([2.0, -1.0]) * 0.95**3, rtol=1e-15)


def test_adamw_uses_the_scheduled_lr_in_the_decay():
    lrs = [0.01, 0.02, 0.005, 0.03, 0.001]
    p, _ = run_optimizer("adamw", {"weight_decay": 0.2}, np.float64, lrs=lrs)
    np.testing.assert_allclose(p, ref_adamw(P0, GRADS, weight_decay=0.2, lrs=lrs), rtol=1e-12)


def test_defaults_equal_pytorch():
    d = {name: spec.defaults() for name, spec in OPTIMIZERS.items()}
    assert d["sgd"] == {"lr": O.REQUIRED, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
    assert d["adagrad"] == {
        "lr": 1e-2,
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
    }
    assert d["adadelta"] == {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}
    assert d["rmsprop"] == {
        "lr": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
    }
    assert d["adam"] == {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
    assert d["adamw"] == {**d["adam"], "weight_decay": 1e-2}


def test_adagrad_state_starts_at_initial_accumulator_value():
    p = np.zeros(4, np.float32)
    opt = Optimizer("adagrad", [p], initial_accumulator_value=0.25)
    np.testing.assert_array_equal(opt.state("sum"), np.full(4, 0.25, np.float32))


# ---------------------------------------------------------------------------
# calling from numba code: named steps, the dispatcher, flat buffers with views
# ---------------------------------------------------------------------------


def test_named_steps_accept_empty_unused_state():
    hp = {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}
    p = np.array(P0)
    m = np.zeros(3)
    v = np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        O.adam_step(p, np.array(g), m, v, np.empty(0), t, 0.01, 0.8, 0.99, 1e-8, 0.1, False)
    np.testing.assert_allclose(p, ref_adam(P0, GRADS, **hp), rtol=1e-12)

    p = np.array(P0)
    for t, g in enumerate(GRADS, start=1):
        O.sgd_step(p, np.array(g), np.empty(0), t, 0.1, 0.0, 0.0, 0.0, False)
    np.testing.assert_allclose(p, ref_sgd(P0, GRADS, lr=0.1), rtol=1e-12)

    p = np.array(P0)
    sq = np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        O.rmsprop_step(p, np.array(g), sq, np.empty(0), np.empty(0), t, 0.01, 0.99, 1e-8, 0.0, 0.0, False)
    np.testing.assert_allclose(p, ref_rmsprop(P0, GRADS), rtol=1e-12)


def test_step_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="differs in length"):
        O.sgd_step(np.zeros(3), np.zeros(2), np.zeros(3), 1, 0.1, 0.9, 0.0, 0.0, False)
    with pytest.raises(ValueError, match="differs in length"):
        O.adam_step(
            np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), np.empty(0), 1, 0.1, 0.9, 0.999, 1e-8, 0.0, True
        )


@njit
def _epoch(code, flat_params, flat_grads, grads_per_step, state, t0, lrs, hyper, max_norm):
    """A stand-in for a future training kernel: a whole epoch in one compiled call."""
    norms = np.empty(lrs.shape[0])
    for k in range(lrs.shape[0]):
        flat_grads[:] = grads_per_step[k]
        norms[k] = O.clip_norm_flat(flat_grads, max_norm, 2.0)
        O.optimizer_step(code, flat_params, flat_grads, state, t0 + k + 1, lrs[k], hyper)
    return norms


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_dispatcher_inside_njit_matches_python_driver(name):
    """Layers are views of one flat float32 buffer; the epoch runs inside one njit call."""
    spec = OPTIMIZERS[name]
    cfg = spec.model_validate(
        {
            "sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
            "adagrad": {"lr_decay": 0.1, "initial_accumulator_value": 0.1},
            "adadelta": {"weight_decay": 0.01},
            "rmsprop": {"centered": True, "momentum": 0.5},
            "adam": {"amsgrad": True, "weight_decay": 0.01},
            "adamw": {"amsgrad": True},
        }[name]
    )
    hp = cfg.resolved()
    rng = np.random.default_rng(3)
    sizes = (6, 4)
    steps = rng.normal(size=(7, sum(sizes))).astype(np.float32)
    lrs = np.linspace(0.05, 0.01, 7)
    max_norm = 2.0

    flat = rng.normal(size=sum(sizes)).astype(np.float32)
    expected_layers = [flat[:6].copy(), flat[6:].copy().reshape(2, 2)]
    opt = Optimizer(name, expected_layers, **hp)
    expected_norms = []
    for k in range(7):
        gl = [steps[k, :6].copy(), steps[k, 6:].copy().reshape(2, 2)]
        expected_norms.append(O.clip_grad_norm_(gl, max_norm))
        opt.step(gl, lr=lrs[k])

    params = flat.copy()
    state = cfg.init_state(params.size)
    norms = _epoch(spec.code, params, np.empty_like(params), steps, state, 0, lrs, cfg.pack_hyper(), max_norm)
    np.testing.assert_allclose(norms, expected_norms, rtol=1e-6)
    np.testing.assert_allclose(params[:6], expected_layers[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(params[6:], expected_layers[1].ravel(), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# integration: a convex quadratic
# ---------------------------------------------------------------------------

QUADRATIC_HP = {
    "sgd": {"lr": 0.05, "momentum": 0.9},
    "adagrad": {"lr": 0.5},
    "adadelta": {},
    "rmsprop": {"lr": 0.01},
    "adam": {"lr": 0.05},
    "adamw": {"lr": 0.05, "weight_decay": 0.0},
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_minimises_a_convex_quadratic(name):
    # f(x) = 1/2 sum_i a_i (x_i - c_i)^2, condition number 10
    a = np.array([1.0, 3.0, 10.0])
    c = np.array([1.0, -2.0, 0.5])
    x = np.zeros(3, np.float32)
    opt = Optimizer(name, [x], **QUADRATIC_HP[name])
    for _ in range(1000):
        opt.step([(a * (x - c)).astype(np.float32)])
    np.testing.assert_allclose(x, c, atol=1e-4)


# ---------------------------------------------------------------------------
# gradient clipping
# ---------------------------------------------------------------------------


def test_clip_norm_flat_by_hand():
    g = np.array([3.0, 4.0], np.float32)  # ||g|| = 5
    total = O.clip_norm_flat(g, 1.0)
    assert total == 5.0
    np.testing.assert_allclose(g, [3.0 / (5.0 + 1e-6), 4.0 / (5.0 + 1e-6)], rtol=1e-7)
    g = np.array([3.0, 4.0], np.float32)
    assert O.clip_norm_flat(g, 10.0) == 5.0
    np.testing.assert_array_equal(g, [3.0, 4.0])  # clip_coef >= 1: unchanged


def test_clip_norm_flat_inf_and_p_norms():
    g = np.array([3.0, -4.0, 1.0])
    assert O.clip_norm_flat(g, 2.0, math.inf) == 4.0
    np.testing.assert_allclose(g, np.array([3.0, -4.0, 1.0]) * 2.0 / (4.0 + 1e-6), rtol=1e-15)
    g = np.array([3.0, -4.0, 1.0])
    assert O.clip_norm_flat(g, 100.0, 1.0) == 8.0
    np.testing.assert_array_equal(g, [3.0, -4.0, 1.0])


def test_clip_grad_norm_over_arrays_by_hand():
    # Total norm over both arrays: sqrt(1 + 4 + 4 + 16) = 5; max_norm 2.5 halves (almost) all.
    g1 = np.array([1.0, 2.0])
    g2 = np.array([[2.0], [4.0]])
    total = O.clip_grad_norm_([g1, g2], max_norm=2.5)
    assert total == pytest.approx(5.0, rel=1e-15)
    coef = 2.5 / (5.0 + 1e-6)
    np.testing.assert_allclose(g1, [coef, 2 * coef], rtol=1e-15)
    np.testing.assert_allclose(g2, [[2 * coef], [4 * coef]], rtol=1e-15)


def test_clip_flat_buffer_equals_clipping_its_layer_views():
    rng = np.random.default_rng(0)
    flat = rng.normal(size=12).astype(np.float32)
    views = [flat[:8].reshape(2, 4), flat[8:]]
    ref = flat.copy()
    total_views = O.clip_grad_norm_(views, 1.0)  # scales flat through its views
    total_flat = O.clip_norm_flat(ref, 1.0)
    assert total_views == pytest.approx(total_flat, rel=1e-6)
    np.testing.assert_allclose(flat, ref, rtol=1e-6)


def test_clip_value_by_hand():
    g = np.array([-2.0, 0.5, 3.0, -0.25], np.float32)
    O.clip_value_flat(g, 1.0)
    np.testing.assert_array_equal(g, [-1.0, 0.5, 1.0, -0.25])
    g1 = np.array([-2.0, 0.5])
    g2 = np.array([[3.0]])
    O.clip_grad_value_([g1, g2], 0.75)
    np.testing.assert_array_equal(g1, [-0.75, 0.5])
    np.testing.assert_array_equal(g2, [[0.75]])


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


def test_validation_messages():
    assert O.validate("sgd", {"lr": -0.1}) == ["lr: input should be greater than 0 (got -0.1)"]
    assert O.validate("sgd", {"lr": 0.1, "momentum": -0.5}) == [
        "momentum: input should be greater than or equal to 0 (got -0.5)"
    ]
    assert O.validate("sgd", {"lr": 0.1, "nesterov": True}) == [
        "nesterov: requires momentum > 0 and dampening == 0 (got momentum=0.0, dampening=0.0)"
    ]
    assert O.validate("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}) == [
        "nesterov: requires momentum > 0 and dampening == 0 (got momentum=0.9, dampening=0.1)"
    ]
    assert O.validate("sgd", {}) == ["lr: required key is missing"]
    assert O.validate("adam", {"betas": (0.9, 1.0)}) == ["betas.1: input should be less than 1 (got 1.0)"]
    assert O.validate("adam", {"betas": (-0.1, 0.999)}) == [
        "betas.0: input should be greater than or equal to 0 (got -0.1)"
    ]
    assert O.validate("adam", {"betas": 0.9}) == ["betas: input should be a valid tuple (got 0.9)"]
    assert O.validate("adadelta", {"rho": 1.5}) == ["rho: input should be less than or equal to 1 (got 1.5)"]
    assert O.validate("rmsprop", {"alpha": -1.0, "eps": 0.0}) == [
        "alpha: input should be greater than or equal to 0 (got -1.0)",
        "eps: input should be greater than 0 (got 0.0)",
    ]
    assert O.validate("adagrad", {"lr_decay": -1e-3}) == [
        "lr_decay: input should be greater than or equal to 0 (got -0.001)"
    ]
    assert O.validate("adamw", {"weight_decay": -0.01}) == [
        "weight_decay: input should be greater than or equal to 0 (got -0.01)"
    ]
    assert O.validate("adam", {"lr": "fast"}) == ["lr: input should be a valid number (got 'fast')"]
    assert O.validate("adam", {"lr": float("nan")}) == ["lr: input should be a finite number (got nan)"]
    assert O.validate("adam", {"amsgrad": 1}) == ["amsgrad: input should be a valid boolean (got 1)"]


def test_unknown_names():
    assert O.validate("adm", {}) == ["optimizer.name: unknown optimizer 'adm' (did you mean 'adam'?)"]
    assert O.validate("lbfgs", {}) == [
        "optimizer.name: unknown optimizer 'lbfgs' (known: sgd, adagrad, adadelta, rmsprop, adam, adamw)"
    ]
    assert O.validate("adagrad", {"lr_decy": 0.1}) == ["lr_decy: unknown key (did you mean 'lr_decay'?)"]
    assert O.validate("adam", {"beta1": 0.9}) == ["beta1: unknown key (did you mean 'betas'?)"]
    assert O.validate("sgd", {"lr": 0.1, "maximize": True}) == [
        "maximize: unknown key (allowed: dampening, lr, momentum, name, nesterov, weight_decay)"
    ]


def test_every_problem_is_reported_once():
    problems = O.validate("sgd", {"lr": -1.0, "momentum": -0.5, "nesterov": True, "momentm": 1})
    assert problems == [
        "lr: input should be greater than 0 (got -1.0)",
        "momentum: input should be greater than or equal to 0 (got -0.5)",
        "momentm: unknown key (did you mean 'momentum'?)",
    ]  # the nesterov rule is skipped while momentum itself is invalid


def test_optimizer_raises_all_problems():
    with pytest.raises(ValueError) as err:
        Optimizer("adam", [np.zeros(2, np.float32)], lr=-1.0, betas=(1.0, 0.5))
    assert str(err.value).splitlines() == [
        "lr: input should be greater than 0 (got -1.0)",
        "betas.0: input should be less than 1 (got 1.0)",
    ]
    with pytest.raises(ValueError, match="did you mean 'rmsprop'"):
        Optimizer("rmsprob", [np.zeros(2, np.float32)])


def test_valid_configurations_pass():
    for name, hp in CASES:
        assert O.validate(name, hp) == []
    assert O.validate("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}) == []


# ---------------------------------------------------------------------------
# against torch.optim (float32)
# ---------------------------------------------------------------------------

TORCH_CLASSES = {
    "sgd": "SGD",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adamw": "AdamW",
}


def torch_run(torch, name, hp, p0, grads, lrs=None, dtype=np.float32):
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    p = torch.nn.Parameter(torch.tensor(p0, dtype=tdtype))
    opt = getattr(torch.optim, TORCH_CLASSES[name])([p], foreach=False, **hp)
    for k, g in enumerate(grads):
        if lrs is not None:
            opt.param_groups[0]["lr"] = float(lrs[k])
        p.grad = torch.tensor(g, dtype=tdtype)
        opt.step()
    return p.detach().numpy()


@pytest.fixture(scope="module")
def torch():
    return require("torch")


@pytest.fixture(scope="module")
def long_sequence():
    rng = np.random.default_rng(42)
    p0 = rng.normal(size=16).astype(np.float32)
    grads = rng.normal(size=(20, 16)).astype(np.float32)
    return p0, grads


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch_float64(torch, long_sequence, case):
    """Same algorithm as torch.optim: in float64 both agree to rounding."""
    name, hp = case
    p0, grads = long_sequence
    expected = torch_run(torch, name, hp, p0, grads, dtype=np.float64)
    got, _ = run_optimizer(name, hp, np.float64, grads=grads, p0=p0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch_float32(torch, long_sequence, case):
    """float32 parameters and state, 20 steps: agreement to 1e-6 of the parameter scale.

    The kernels compute each element in float64 and round on store; PyTorch computes
    in float32 (it also rounds AdamW's factor 1 - lr * wd to float32). Each differs
    from the exact recurrence by up to ~1e-6 relative on elements near 0, so the
    tolerance is 1e-6 relative to the element or to the largest |parameter|.
    """
    name, hp = case
    p0, grads = long_sequence
    expected = torch_run(torch, name, hp, p0, grads)
    got, _ = run_optimizer(name, hp, np.float32, grads=grads, p0=p0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adamw"])
def test_matches_torch_with_changing_lr(torch, long_sequence, name):
    hp = {
        "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
        "adagrad": {"lr": 0.1, "lr_decay": 0.1},
        "rmsprop": {"lr": 0.01, "momentum": 0.5, "centered": True},
        "adamw": {"lr": 0.01, "weight_decay": 0.5},
    }[name]
    p0, grads = long_sequence
    lrs = np.geomspace(hp["lr"], hp["lr"] / 20, len(grads))
    expected = torch_run(torch, name, hp, p0, grads, lrs, dtype=np.float64)
    got, _ = run_optimizer(name, hp, np.float64, grads=grads, p0=p0, lrs=lrs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_clipping_matches_torch(torch):
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
    for norm_type in (2.0, 1.0, math.inf):
        ours = [a.copy() for a in arrays]
        ts = [torch.nn.Parameter(torch.zeros(a.shape)) for a in arrays]
        for t_, a in zip(ts, arrays):
            t_.grad = torch.tensor(a)
        expected_total = float(torch.nn.utils.clip_grad_norm_(ts, 0.5, norm_type=norm_type))
        total = O.clip_grad_norm_(ours, 0.5, norm_type)
        assert total == pytest.approx(expected_total, rel=1e-6)
        for o, t_ in zip(ours, ts):
            np.testing.assert_allclose(o, t_.grad.numpy(), rtol=1e-6)
    ours = [a.copy() for a in arrays]
    for t_, a in zip(ts, arrays):
        t_.grad = torch.tensor(a)
    torch.nn.utils.clip_grad_value_(ts, 0.3)
    O.clip_grad_value_(ours, 0.3)
    for o, t_ in zip(ours, ts):
        np.testing.assert_array_equal(o, t_.grad.numpy())
