"""Numba kernels of Elman recurrent networks: the forward pass and backpropagation through time.

Layout (float64 throughout): inputs ``x`` (B, T, I), hidden states ``hs`` (B, T, H); weights are
``(fan_in, fan_out)`` as in the feedforward kind, ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``
with ``h_{-1} = 0``. The readout and the loss are the driver's (numpy); these kernels take the
loss gradient with respect to every hidden state and propagate it back through time. Sums keep
their order (no ``fastmath``), so results are bit-identical across runs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def forward(x, w_xh, w_hh, b_h, hs):
    """Run the recurrence over a batch, writing every hidden state.

    Parameters
    ----------
    x : ndarray of float64, shape (B, T, I)
        Inputs.
    w_xh : ndarray of float64, shape (I, H)
    w_hh : ndarray of float64, shape (H, H)
    b_h : ndarray of float64, shape (H,)
    hs : ndarray of float64, shape (B, T, H)
        Output: ``hs[b, t]`` = h_t of sequence b.
    """
    n_b, n_t, n_i = x.shape
    n_h = w_hh.shape[0]
    a = np.empty(n_h)
    for b in range(n_b):
        for t in range(n_t):
            for j in range(n_h):
                a[j] = b_h[j]
            for i in range(n_i):
                xi = x[b, t, i]
                if xi != 0.0:
                    for j in range(n_h):
                        a[j] += xi * w_xh[i, j]
            if t > 0:
                for k in range(n_h):
                    hk = hs[b, t - 1, k]
                    for j in range(n_h):
                        a[j] += hk * w_hh[k, j]
            for j in range(n_h):
                hs[b, t, j] = math.tanh(a[j])


@njit(cache=True)
def backward(x, hs, w_hh, dh_out, truncation, g_xh, g_hh, g_b, dh_norm):
    """Backpropagation through time: accumulate the gradients of the loss whose gradient with
    respect to each hidden state (through the readout only) is ``dh_out``.

    Going back from the last step, ``dh_t = dh_out[t] + W_hh (da_{t+1})`` and ``da_t = dh_t (1 -
    h_t^2)``. With ``truncation = k > 0`` the sequence is cut into chunks of ``k`` steps counted
    from its last step (the first chunk may be shorter) and the recurrent term does not cross a
    cut: the gradient flows back at most ``k`` steps (truncated BPTT; ``k >= T`` is full BPTT).

    Parameters
    ----------
    x : ndarray of float64, shape (B, T, I)
    hs : ndarray of float64, shape (B, T, H)
        The hidden states of :func:`forward`.
    w_hh : ndarray of float64, shape (H, H)
    dh_out : ndarray of float64, shape (B, T, H)
        dL/dh_t through the readout of step t alone (zero where step t has no output).
    truncation : int
        k (0: full BPTT).
    g_xh : ndarray of float64, shape (I, H)
        Output: dL/dW_xh (overwritten).
    g_hh : ndarray of float64, shape (H, H)
        Output: dL/dW_hh (overwritten).
    g_b : ndarray of float64, shape (H,)
        Output: dL/db_h (overwritten).
    dh_norm : ndarray of float64, shape (B, T)
        Output: the Euclidean norm of the total dL/dh_t of each sequence and step.
    """
    n_b, n_t, n_i = x.shape
    n_h = w_hh.shape[0]
    g_xh[:] = 0.0
    g_hh[:] = 0.0
    g_b[:] = 0.0
    dh = np.empty(n_h)
    da = np.empty(n_h)
    carry = np.zeros(n_h)
    for b in range(n_b):
        for j in range(n_h):
            carry[j] = 0.0
        for t in range(n_t - 1, -1, -1):
            if truncation > 0 and t < n_t - 1 and (n_t - 1 - t) % truncation == 0:
                for j in range(n_h):
                    carry[j] = 0.0
            acc = 0.0
            for j in range(n_h):
                d = dh_out[b, t, j] + carry[j]
                dh[j] = d
                acc += d * d
                h = hs[b, t, j]
                da[j] = d * (1.0 - h * h)
            dh_norm[b, t] = math.sqrt(acc)
            for j in range(n_h):
                g_b[j] += da[j]
            for i in range(n_i):
                xi = x[b, t, i]
                if xi != 0.0:
                    for j in range(n_h):
                        g_xh[i, j] += xi * da[j]
            if t > 0:
                for k in range(n_h):
                    hk = hs[b, t - 1, k]
                    s = 0.0
                    for j in range(n_h):
                        g_hh[k, j] += hk * da[j]
                        s += w_hh[k, j] * da[j]
                    carry[k] = s
