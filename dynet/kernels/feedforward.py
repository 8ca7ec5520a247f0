"""Feedforward networks: a whole training epoch per compiled call.

Layout shared by every kernel here (built by :func:`dynet.models.feedforward.Layout`):

* ``params`` / ``grads``: one flat array each (float32 in training; any float dtype
  works, which the gradient tests use with float64). Layer ``l`` owns
  ``W_l = params[w_off : w_off + n_in * n_out].reshape(n_in, n_out)`` and
  ``b_l = params[b_off : b_off + n_out]``.
* ``layout``: int64 array of shape (L, 5), rows ``(n_in, n_out, w_off, b_off, u_off)``;
  ``u_off`` is the offset of layer ``l``'s units in the per-batch buffers ``z_buf``
  (pre-activations), ``a_buf`` (activations), ``d_buf`` (gradients w.r.t. them) and
  ``mask_buf`` (dropout masks), each sized for the largest batch.
* Hidden layer ``l`` applies activation ``act_codes[l]`` (parameter ``act_params[l]``)
  and then dropout with probability ``drop[l]``. The output layer is linear: the
  losses take logits (``dynet.train.losses``), and an output nonlinearity (softmax,
  sigmoid, step) only enters predictions.
* Random draws (sampling, dropout masks) come from one xoshiro256** ``rng_state``.
"""

import numpy as np
from numba import njit

from ..train.activations import activate, activate_backward
from ..train.dense import (dense_backward_input_transposed, dense_backward_params, dense_forward,
                           dropout_backward, dropout_forward_sample, transpose_into)
from ..train.losses import loss_and_grad
from ..train.optimizers import clip_norm_flat, clip_value_flat, optimizer_step
from .rng import next_below, permutation

SAMPLE_PERMUTATION = 0
SAMPLE_REPLACEMENT = 1


@njit(cache=True)
def _units(buf, layout, l, rows):
    n_out = layout[l, 1]
    u = layout[l, 4]
    return buf[u:u + rows * n_out].reshape((rows, n_out))


@njit(cache=True)
def _weights(params, layout, l):
    n_in = layout[l, 0]
    n_out = layout[l, 1]
    w = layout[l, 2]
    return params[w:w + n_in * n_out].reshape((n_in, n_out))


@njit(cache=True)
def _bias(params, layout, l):
    b = layout[l, 3]
    return params[b:b + layout[l, 1]]


@njit(cache=True)
def forward(params, layout, act_codes, act_params, drop, inverted, training, x, z_buf, a_buf, mask_buf,
            rng_state):
    """Forward pass of the rows ``x`` (rows, n_in); fills every layer's ``z`` and ``a``.

    Returns the output layer's activations (the logits), a view into ``a_buf``.
    In training, dropout masks are drawn from ``rng_state`` into ``mask_buf``.
    """
    rows = x.shape[0]
    n_layers = layout.shape[0]
    prev = x
    out = _units(a_buf, layout, n_layers - 1, rows)
    for l in range(n_layers):
        z = _units(z_buf, layout, l, rows)
        a = _units(a_buf, layout, l, rows)
        dense_forward(prev, _weights(params, layout, l), _bias(params, layout, l), z)
        if l < n_layers - 1:
            activate(act_codes[l], z, a, act_params[l])
            if drop[l] > 0.0:
                dropout_forward_sample(a, drop[l], inverted, training, rng_state,
                                       _units(mask_buf, layout, l, rows), a)
        else:
            a[:, :] = z
        prev = a
    return out


@njit(cache=True)
def backward(params, grads, layout, act_codes, act_params, drop, inverted, x, z_buf, a_buf, d_buf,
             mask_buf, wt_buf):
    """Back-propagate ``d_buf``'s output-layer rows (dL/dlogits) through every layer.

    Writes ``dW_l = a_{l-1}^T dz_l`` and ``db_l = sum_rows dz_l`` into ``grads`` (not
    accumulated), with ``dz_{l-1} = f'(z_{l-1}) * dropout(dz_l W_l^T)``.
    ``wt_buf`` is scratch for a transposed weight matrix.
    """
    rows = x.shape[0]
    n_layers = layout.shape[0]
    for l in range(n_layers - 1, -1, -1):
        dz = _units(d_buf, layout, l, rows)
        prev = x if l == 0 else _units(a_buf, layout, l - 1, rows)
        dense_backward_params(prev, dz, _weights(grads, layout, l), _bias(grads, layout, l))
        if l > 0:
            n_in = layout[l, 0]
            n_out = layout[l, 1]
            wt = wt_buf[:n_in * n_out].reshape((n_out, n_in))
            transpose_into(_weights(params, layout, l), wt)
            da = _units(d_buf, layout, l - 1, rows)
            dense_backward_input_transposed(dz, wt, da)
            if drop[l - 1] > 0.0:
                dropout_backward(da, _units(mask_buf, layout, l - 1, rows), drop[l - 1], inverted, True, da)
            activate_backward(act_codes[l - 1], _units(z_buf, layout, l - 1, rows),
                              _units(a_buf, layout, l - 1, rows), da, da, act_params[l - 1])


@njit(cache=True)
def penalize(params, grads, layout, l1, l2):
    """Add the gradients of ``l1 * sum|W| + l2/2 * sum W^2`` over every weight matrix (not biases);
    returns the penalty's value."""
    total = 0.0
    for l in range(layout.shape[0]):
        w0 = layout[l, 2]
        for i in range(w0, w0 + layout[l, 0] * layout[l, 1]):
            w = params[i]
            if l2 != 0.0:
                grads[i] += l2 * w
                total += 0.5 * l2 * w * w
            if l1 != 0.0:
                if w > 0:
                    grads[i] += l1
                elif w < 0:
                    grads[i] -= l1
                total += l1 * abs(w)
    return total


# fastmath: a recorded diagnostic, never fed back into training, so reordering its sum
# (for SIMD; ~10x faster, differences ~1e-16 relative) is acceptable.
@njit(cache=True, fastmath=True)
def layer_norms(arr, layout, out):
    """``out[l] = ||W_l||_2`` (Frobenius) of the weight part of ``arr`` for each layer."""
    for l in range(layout.shape[0]):
        w = arr[layout[l, 2]:layout[l, 2] + layout[l, 0] * layout[l, 1]]
        acc = 0.0
        for i in range(w.shape[0]):  # 0-based: no negative-index check per element
            acc += w[i] * w[i]
        out[l] = np.sqrt(acc)


@njit(cache=True)
def train_epoch(params, grads, opt_code, opt_state, opt_hyper, step0, lrs, layout, act_codes, act_params,
                drop, inverted, loss_code, l1, l2, clip_norm, clip_value, sampling, batch_size,
                X, Y, labels, x_buf, y_buf, lab_buf, idx, z_buf, a_buf, d_buf, mask_buf, wt_buf, rng_state,
                step_loss, grad_norm_sum, update_ratio, before):
    """One epoch of mini-batch training; returns ``(n_steps, diverged_step)``.

    Batches: ``ceil(n / batch_size)`` of them; rows drawn by a fresh permutation (the last
    batch smaller, like PyTorch's DataLoader) or uniformly with replacement. For each
    batch: forward (training mode), loss and dL/dlogits, backward, L1/L2 penalty
    gradients, clipping by global norm (``clip_norm > 0``, as ``clip_grad_norm_``) and
    by value (``clip_value > 0``), then one optimizer step ``t = step0 + k + 1`` at
    learning rate ``lrs[k]``. Targets: ``Y`` (float rows) for value losses, ``labels``
    for label losses; the unused one has zero rows.

    Per step ``k``: ``step_loss[k]`` (data loss of the batch, before the step). Per layer:
    ``grad_norm_sum[l]`` accumulates ``||dW_l||`` (after penalties, before clipping);
    ``update_ratio[l] = ||W_l(after) - W_l(before)|| / ||W_l(before)||`` of the last step
    (``before`` is scratch of params' size). Stops at the first non-finite loss and
    returns its step index as ``diverged_step`` (else -1).
    """
    n = X.shape[0]
    n_in = X.shape[1]
    n_batches = (n + batch_size - 1) // batch_size
    if sampling == SAMPLE_PERMUTATION:
        permutation(idx, rng_state)
    else:
        for i in range(n_batches * batch_size):
            idx[i] = next_below(rng_state, n)
    n_layers = layout.shape[0]
    norms = np.empty(n_layers)
    for k in range(n_batches):
        start = k * batch_size
        stop = min(start + batch_size, n) if sampling == SAMPLE_PERMUTATION else start + batch_size
        rows = stop - start
        xb = x_buf[:rows * n_in].reshape((rows, n_in))
        for r in range(rows):
            xb[r, :] = X[idx[start + r]]
        yb = y_buf[:rows * Y.shape[1]].reshape((rows, Y.shape[1]))  # (rows, 0) for label losses
        if Y.shape[0] > 0:
            for r in range(rows):
                yb[r, :] = Y[idx[start + r]]
        lb = lab_buf[:rows]  # not read by value losses
        if labels.shape[0] > 0:
            for r in range(rows):
                lb[r] = labels[idx[start + r]]
        out = forward(params, layout, act_codes, act_params, drop, inverted, True, xb, z_buf, a_buf, mask_buf,
                      rng_state)
        g_out = _units(d_buf, layout, n_layers - 1, rows)
        loss = loss_and_grad(loss_code, out, yb, lb, g_out)
        step_loss[k] = loss
        if not np.isfinite(loss):
            return k, k
        backward(params, grads, layout, act_codes, act_params, drop, inverted, xb, z_buf, a_buf, d_buf,
                 mask_buf, wt_buf)
        if l1 != 0.0 or l2 != 0.0:
            penalize(params, grads, layout, l1, l2)
        layer_norms(grads, layout, norms)
        for l in range(n_layers):
            grad_norm_sum[l] += norms[l]
        if clip_norm > 0.0:
            clip_norm_flat(grads, clip_norm, 2.0)
        if clip_value > 0.0:
            clip_value_flat(grads, clip_value)
        last = k == n_batches - 1
        if last:
            before[:] = params
        optimizer_step(opt_code, params, grads, opt_state, step0 + k + 1, lrs[k], opt_hyper)
        if last:
            layer_norms(before, layout, norms)
            for i in range(before.shape[0]):
                before[i] = params[i] - before[i]
            delta = np.empty(n_layers)
            layer_norms(before, layout, delta)
            for l in range(n_layers):
                update_ratio[l] = delta[l] / norms[l] if norms[l] > 0 else np.inf if delta[l] > 0 else 0.0
    return n_batches, -1


@njit(cache=True)
def evaluate(params, layout, act_codes, act_params, drop, inverted, X, batch_size, z_buf, a_buf, mask_buf,
             x_buf, out, act_sum, act_sq, alive, rng_state):
    """Forward pass in evaluation mode over every row of ``X``, ``batch_size`` rows at a time.

    Writes the logits to ``out`` (n, n_out). For hidden layer ``l``: ``act_sum[l]`` and
    ``act_sq[l]`` get the sum and sum of squares of its outputs (after evaluation-mode
    dropout, which scales by ``1 - p`` in the classic variant), and ``alive[u]`` (over hidden units in layer order) is set when unit ``u``
    is nonzero for some row, so ``1 - mean(alive)`` of a ReLU layer is its dead fraction.
    """
    n = X.shape[0]
    n_in = X.shape[1]
    n_layers = layout.shape[0]
    act_sum[:] = 0.0
    act_sq[:] = 0.0
    alive[:] = False
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        xb = x_buf[:rows * n_in].reshape((rows, n_in))
        xb[:, :] = X[start:start + rows]
        o = forward(params, layout, act_codes, act_params, drop, inverted, False, xb, z_buf, a_buf, mask_buf,
                    rng_state)
        out[start:start + rows] = o
        unit0 = 0
        for l in range(n_layers - 1):
            a = _units(a_buf, layout, l, rows)
            width = layout[l, 1]
            for r in range(rows):
                for j in range(width):
                    v = a[r, j]
                    act_sum[l] += v
                    act_sq[l] += v * v
                    if v != 0.0:
                        alive[unit0 + j] = True
            unit0 += width
