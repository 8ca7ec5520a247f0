"""Hopfield's graded-response network (Hopfield 1984), integrated many steps per compiled call.

Conventions shared by every kernel here (and by the plain-numpy references in
``tests/test_graded_hopfield.py``):

* The state is the internal potential ``u`` (``float64``, shape ``(N,)``); the outputs are
  ``V = g(u) = tanh(gain u)`` in (-1, 1), ``g'(u) = gain (1 - V^2)``.
* ``du/dt = f(u) = -u / tau + W V + I`` with ``W`` symmetric, zero diagonal (``float64``, (N, N))
  and ``I`` the same input for every unit.
* The energy (Hopfield's Lyapunov function)
  ``E = -1/2 V^T W V - I sum_i V_i + (1/tau) sum_i int_0^{V_i} g^-1(v) dv`` with, for tanh,
  ``int_0^V g^-1 = (V artanh V + 1/2 log(1 - V^2)) / gain = (gain u V - log cosh(gain u)) / gain``
  (the second form, from ``u``, stays exact where ``V`` rounds to +-1).
  ``dE/dt = -sum_i g'(u_i) f_i(u)^2 <= 0``.
* Integrators: forward Euler and classic RK4 with a fixed step, and Dormand-Prince 5(4)
  (FSAL, local extrapolation) with the error norm
  ``sqrt(mean((err_i / (atol + rtol max(|u_i|, |u_new_i|)))^2))``: a step is accepted when it is
  at most 1, and the next step is ``h * min(5, max(0.2, 0.9 err^(-1/5)))`` (at most 1 after a
  rejection).
* ``k1`` always holds ``f(u)`` of the current state, ``v`` and ``wv`` its ``V`` and ``W V``.
"""

import numpy as np
from numba import njit

EULER = 0
RK4 = 1
DOPRI5 = 2
METHOD_CODES = {"euler": EULER, "rk4": RK4, "dopri5": DOPRI5}

RUNNING = 0
CONVERGED = 1
T_MAX = 2
MAX_STEPS = 3
STEP_TOO_SMALL = 4
STOP_REASONS = {
    RUNNING: "running",
    CONVERGED: "converged",
    T_MAX: "t_max",
    MAX_STEPS: "max_steps",
    STEP_TOO_SMALL: "step_too_small",
}

LOG2 = float(np.log(2.0))

# Dormand-Prince 5(4) tableau (Dormand & Prince 1980; Hairer, Norsett & Wanner, Table II.5.2)
A21 = 1.0 / 5.0
A31, A32 = 3.0 / 40.0, 9.0 / 40.0
A41, A42, A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
A51, A52, A53, A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
A61, A62, A63, A64, A65 = 9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0
B1, B3, B4, B5, B6 = 35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0
# error weights: the fifth-order minus the embedded fourth-order weights
E1 = 35.0 / 384.0 - 5179.0 / 57600.0
E3 = 500.0 / 1113.0 - 7571.0 / 16695.0
E4 = 125.0 / 192.0 - 393.0 / 640.0
E5 = -2187.0 / 6784.0 + 92097.0 / 339200.0
E6 = 11.0 / 84.0 - 187.0 / 2100.0
E7 = -1.0 / 40.0

#: Work rows :func:`run_block` needs (``work`` of shape (WORK_ROWS, N)).
WORK_ROWS = 11


@njit(cache=True)
def log_cosh(x):
    """``log cosh(x)`` without overflow: ``|x| + log1p(exp(-2|x|)) - log 2``.

    Parameters
    ----------
    x : float

    Returns
    -------
    float64
    """
    a = abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - LOG2


@njit(cache=True)
def derivative(W, inp, tau, gain, u, v, wv, out):
    """``out = f(u) = -u / tau + W V + I``; fills ``v = tanh(gain u)`` and ``wv = W v``.

    Parameters
    ----------
    W : ndarray of float64, shape (N, N)
        Symmetric weights, zero diagonal.
    inp : float
        External input I of every unit.
    tau : float
        Time constant, > 0.
    gain : float
        Gain lambda, > 0.
    u : ndarray of float64, shape (N,)
        Internal potentials.
    v, wv : ndarray of float64, shape (N,)
        Outputs: ``V = tanh(gain u)`` and ``W V``.
    out : ndarray of float64, shape (N,)
        Output: ``du/dt`` (may not alias ``u``, ``v`` or ``wv``).
    """
    n = u.shape[0]
    for i in range(n):
        v[i] = np.tanh(gain * u[i])
    for i in range(n):
        row = W[i]
        acc = 0.0
        for j in range(n):
            acc += row[j] * v[j]
        wv[i] = acc
    for i in range(n):
        out[i] = -u[i] / tau + wv[i] + inp


@njit(cache=True)
def energy(inp, tau, gain, u, v, wv):
    """Hopfield's energy ``E = -1/2 V^T W V - I sum V + (1/tau) sum_i int_0^{V_i} g^-1``.

    Parameters
    ----------
    inp, tau, gain : float
        See :func:`derivative`.
    u, v, wv : ndarray of float64, shape (N,)
        The potentials, ``V = tanh(gain u)`` and ``W V`` (from :func:`derivative`).

    Returns
    -------
    float64
    """
    pair, ext, leak = 0.0, 0.0, 0.0
    for i in range(u.shape[0]):
        x = gain * u[i]
        pair += v[i] * wv[i]
        ext += v[i]
        leak += x * v[i] - log_cosh(x)
    return -0.5 * pair - inp * ext + leak / (gain * tau)


@njit(cache=True)
def euler_step(u, h, k1, u_new):
    """``u_new = u + h k1`` with ``k1 = f(u)``.

    Parameters
    ----------
    u, k1, u_new : ndarray of float64, shape (N,)
    h : float
        Step.
    """
    for i in range(u.shape[0]):
        u_new[i] = u[i] + h * k1[i]


@njit(cache=True)
def rk4_step(W, inp, tau, gain, u, h, k1, k2, k3, k4, tmp, v, wv, u_new):
    """One classic fourth-order Runge-Kutta step from ``u`` (``k1 = f(u)`` given) into ``u_new``.

    Parameters
    ----------
    W, inp, tau, gain
        See :func:`derivative`.
    u : ndarray of float64, shape (N,)
    h : float
        Step.
    k1 : ndarray of float64, shape (N,)
        ``f(u)``.
    k2, k3, k4, tmp, v, wv : ndarray of float64, shape (N,)
        Work arrays.
    u_new : ndarray of float64, shape (N,)
        Output.
    """
    n = u.shape[0]
    for i in range(n):
        tmp[i] = u[i] + 0.5 * h * k1[i]
    derivative(W, inp, tau, gain, tmp, v, wv, k2)
    for i in range(n):
        tmp[i] = u[i] + 0.5 * h * k2[i]
    derivative(W, inp, tau, gain, tmp, v, wv, k3)
    for i in range(n):
        tmp[i] = u[i] + h * k3[i]
    derivative(W, inp, tau, gain, tmp, v, wv, k4)
    for i in range(n):
        u_new[i] = u[i] + (h / 6.0) * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])


@njit(cache=True)
def dopri5_step(W, inp, tau, gain, u, h, rtol, atol, k1, k2, k3, k4, k5, k6, k7, tmp, v, wv, u_new):
    """One Dormand-Prince 5(4) trial step from ``u`` (``k1 = f(u)`` given): ``u_new`` the fifth-order
    solution, ``k7 = f(u_new)`` (with ``v``, ``wv`` those of ``u_new``); returns the error norm.

    Parameters
    ----------
    W, inp, tau, gain
        See :func:`derivative`.
    u : ndarray of float64, shape (N,)
    h : float
        Trial step.
    rtol, atol : float
        Tolerances of the error norm.
    k1 : ndarray of float64, shape (N,)
        ``f(u)``.
    k2, k3, k4, k5, k6, tmp, v, wv : ndarray of float64, shape (N,)
        Work arrays.
    k7 : ndarray of float64, shape (N,)
        Output: ``f(u_new)``.
    u_new : ndarray of float64, shape (N,)
        Output.

    Returns
    -------
    float64
        ``sqrt(mean((err_i / (atol + rtol max(|u_i|, |u_new_i|)))^2))``.
    """
    n = u.shape[0]
    for i in range(n):
        tmp[i] = u[i] + h * (A21 * k1[i])
    derivative(W, inp, tau, gain, tmp, v, wv, k2)
    for i in range(n):
        tmp[i] = u[i] + h * (A31 * k1[i] + A32 * k2[i])
    derivative(W, inp, tau, gain, tmp, v, wv, k3)
    for i in range(n):
        tmp[i] = u[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i])
    derivative(W, inp, tau, gain, tmp, v, wv, k4)
    for i in range(n):
        tmp[i] = u[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i])
    derivative(W, inp, tau, gain, tmp, v, wv, k5)
    for i in range(n):
        tmp[i] = u[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i])
    derivative(W, inp, tau, gain, tmp, v, wv, k6)
    for i in range(n):
        u_new[i] = u[i] + h * (B1 * k1[i] + B3 * k3[i] + B4 * k4[i] + B5 * k5[i] + B6 * k6[i])
    derivative(W, inp, tau, gain, u_new, v, wv, k7)
    acc = 0.0
    for i in range(n):
        err = h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i])
        sc = atol + rtol * max(abs(u[i]), abs(u_new[i]))
        acc += (err / sc) ** 2
    return np.sqrt(acc / n)


@njit(cache=True)
def measure(inp, tau, gain, xi, u, v, wv, k1, row, energy_out, overlap_out, speed_out, state_out):
    """Fill row ``row`` of the records for the current state (``v``, ``wv``, ``k1`` those of ``u``).

    Parameters
    ----------
    inp, tau, gain : float
    xi : ndarray of float64, shape (N,)
        The cued pattern (+-1).
    u, v, wv, k1 : ndarray of float64, shape (N,)
        Potentials, outputs, ``W V`` and ``f(u)``.
    row : int
    energy_out, overlap_out, speed_out : ndarray of float64, shape (rows,)
        Energy, overlap ``xi . V / N`` and ``max_i |du_i/dt|``.
    state_out : ndarray of float64, shape (rows, N) or (rows, 0)
        The outputs V (not written when its second dimension is 0).
    """
    n = u.shape[0]
    energy_out[row] = energy(inp, tau, gain, u, v, wv)
    m, sp = 0.0, 0.0
    for i in range(n):
        m += xi[i] * v[i]
        a = abs(k1[i])
        if a > sp:
            sp = a
    overlap_out[row] = m / n
    speed_out[row] = sp
    if state_out.shape[1] > 0:
        state_out[row, :] = v


@njit(cache=True)
def run_block(
    W,
    inp,
    tau,
    gain,
    method,
    xi,
    u,
    work,
    clock,
    counts,
    t_max,
    dt,
    rtol,
    atol,
    tol,
    max_steps,
    n_rows,
    step_out,
    t_out,
    dt_out,
    energy_out,
    overlap_out,
    speed_out,
    state_out,
):
    """Up to ``n_rows`` accepted steps from ``u`` (in place), one recorded row after each; stops at
    ``t_max``, after ``max_steps`` steps, or once ``max_i |du_i/dt| < tol``.

    Parameters
    ----------
    W : ndarray of float64, shape (N, N)
        Symmetric weights, zero diagonal.
    inp, tau, gain : float
        See :func:`derivative`.
    method : int
        ``EULER``, ``RK4`` or ``DOPRI5``.
    xi : ndarray of float64, shape (N,)
        The cued pattern.
    u : ndarray of float64, shape (N,)
        The potentials, advanced in place.
    work : ndarray of float64, shape (WORK_ROWS, N)
        Rows 0..2 hold ``k1 = f(u)``, ``v``, ``wv`` of the current ``u`` (valid on entry, kept
        valid on return); the others are scratch.
    clock : ndarray of float64, shape (2,)
        ``[t, h]``: the time and dopri5's next trial step, updated in place.
    counts : ndarray of int64, shape (2,)
        ``[accepted steps, rejected steps]``, updated in place.
    t_max, dt, rtol, atol, tol : float
        Final time, fixed step, tolerances, convergence threshold.
    max_steps : int
        Most accepted steps in the whole run.
    n_rows : int
        Most rows (accepted steps) in this call.
    step_out : ndarray of int64, shape (>= n_rows,)
        Step number of each row.
    t_out, dt_out : ndarray of float64, shape (>= n_rows,)
        Time after the step, and the step's size.
    energy_out, overlap_out, speed_out : ndarray of float64, shape (>= n_rows,)
        See :func:`measure`.
    state_out : ndarray of float64, shape (>= n_rows, N) or (>= n_rows, 0)
        See :func:`measure`.

    Returns
    -------
    tuple of int
        ``(rows written, stop code)``.
    """
    n = u.shape[0]
    k1, v, wv = work[0], work[1], work[2]
    k2, k3, k4, k5, k6, tmp = work[3], work[4], work[5], work[6], work[7], work[8]
    k7, u_new = work[9], work[10]
    t, h = clock[0], clock[1]
    rows = 0
    stop = RUNNING
    while rows < n_rows:
        if method == DOPRI5:
            rejected = False
            while True:
                last = h >= t_max - t
                hh = t_max - t if last else h
                err = dopri5_step(W, inp, tau, gain, u, hh, rtol, atol, k1, k2, k3, k4, k5, k6, k7, tmp, v, wv, u_new)
                if err <= 1.0:
                    fac = 5.0 if err == 0.0 else min(5.0, max(0.2, 0.9 * err**-0.2))
                    if rejected and fac > 1.0:
                        fac = 1.0  # no growth right after a rejection
                    break
                counts[1] += 1
                rejected = True
                h = hh * max(0.2, 0.9 * err**-0.2)
                if h <= 1e-14 * max(1.0, abs(t)):
                    clock[0], clock[1] = t, h
                    return rows, STEP_TOO_SMALL
            h_used = hh
            t = t_max if last else t + hh
            h = hh * fac
            for i in range(n):
                u[i] = u_new[i]
                k1[i] = k7[i]
            # v and wv were left at u_new by the last derivative call of dopri5_step
        else:
            t_next = (counts[0] + 1) * dt
            if t_next > t_max:
                t_next = t_max
            h_used = t_next - t
            if method == RK4:
                rk4_step(W, inp, tau, gain, u, h_used, k1, k2, k3, k4, tmp, v, wv, u_new)
            else:
                euler_step(u, h_used, k1, u_new)
            for i in range(n):
                u[i] = u_new[i]
            derivative(W, inp, tau, gain, u, v, wv, k1)
            t = t_next
        counts[0] += 1
        step_out[rows] = counts[0]
        t_out[rows] = t
        dt_out[rows] = h_used
        measure(inp, tau, gain, xi, u, v, wv, k1, rows, energy_out, overlap_out, speed_out, state_out)
        sp = speed_out[rows]
        rows += 1
        if sp < tol:
            stop = CONVERGED
        elif t >= t_max:
            stop = T_MAX
        elif counts[0] >= max_steps:
            stop = MAX_STEPS
        if stop != RUNNING:
            break
    clock[0], clock[1] = t, h
    return rows, stop
