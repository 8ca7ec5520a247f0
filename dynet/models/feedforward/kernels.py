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
* Batch normalisation (``torch.nn.BatchNorm1d`` semantics, :mod:`dynet.train.dense`):
  ``bn`` is an int64 (L, 2) table; a hidden layer ``l`` with ``bn[l, 0] >= 0`` computes
  Linear -> BN -> activation. Its ``gamma_l = params[g : g + n_out]`` and
  ``beta_l = params[g + n_out : g + 2 n_out]`` (``g = bn[l, 0]``) are parameters like any
  other; its running statistics ``bn_mean[s : s + n_out]`` and ``bn_var[s : s + n_out]``
  (``s = bn[l, 1]``) are state, updated with ``bn_momentum`` in training and used (with
  ``bn_eps``) in evaluation. ``z_buf`` then holds the normalised values (the activation's
  input), ``xhat_buf`` (laid out like ``z_buf``) and ``inv_std[s : s + n_out]`` what the
  backward pass needs. The layer's bias is kept in the layout (as PyTorch keeps it) but
  cancels in the batch mean: its gradient is exactly 0 and is written as 0.
* Frozen layers (``frozen[l]``): no gradient, penalty, clipping share or optimizer
  update reaches their weights, bias, gamma and beta (their running statistics still
  follow the batches, as in PyTorch's training mode). Back-propagation stops at the
  lowest layer that is not frozen.
* Random draws (sampling, dropout masks) come from one xoshiro256** ``rng_state``.
* Products (:mod:`dynet.train.dense`): a ReLU layer's activation is fused into its
  forward product and its derivative into the product that back-propagates through it;
  a layer narrower than :data:`NARROW` computes ``Z`` and ``dW`` transposed. Each is
  chosen for speed only: every value is the same sum in the same order as the plain
  kernels give, bit for bit (``tests/test_dense.py``).
"""

import numpy as np
from numba import njit

from dynet.kernels.rng import next_below, permutation
from dynet.train.activations import RELU, activate, activate_backward
from dynet.train.dense import (
    batchnorm_backward,
    batchnorm_forward_eval,
    batchnorm_forward_train,
    dense_backward_input_relu,
    dense_backward_input_transposed,
    dense_backward_params,
    dense_backward_params_transposed,
    dense_forward,
    dense_forward_relu,
    dense_forward_transposed,
    dropout_backward,
    dropout_forward_sample,
    transpose_into,
)
from dynet.train.losses import loss_and_grad
from dynet.train.optimizers import clip_norm_flat, clip_value_flat, optimizer_step

SAMPLE_PERMUTATION = 0
SAMPLE_REPLACEMENT = 1
NARROW = 16  # layers with fewer outputs than this compute their products transposed (_narrow)


@njit(cache=True)
def _units(buf, layout, l, rows):
    n_out = layout[l, 1]
    u = layout[l, 4]
    return buf[u : u + rows * n_out].reshape((rows, n_out))


@njit(cache=True)
def _weights(params, layout, l):
    n_in = layout[l, 0]
    n_out = layout[l, 1]
    w = layout[l, 2]
    return params[w : w + n_in * n_out].reshape((n_in, n_out))


@njit(cache=True)
def _bias(params, layout, l):
    b = layout[l, 3]
    return params[b : b + layout[l, 1]]


@njit(cache=True)
def _gamma(params, bn, layout, l):
    return params[bn[l, 0] : bn[l, 0] + layout[l, 1]]


@njit(cache=True)
def _beta(params, bn, layout, l):
    return params[bn[l, 0] + layout[l, 1] : bn[l, 0] + 2 * layout[l, 1]]


@njit(cache=True)
def _features(arr, bn, layout, l):
    return arr[bn[l, 1] : bn[l, 1] + layout[l, 1]]


@njit(cache=True)
def _narrow(n_out, n_long):
    """Whether a layer with ``n_out`` outputs computes a product transposed, so that the
    vectorised loop runs over ``n_long`` (the rows, or the inputs for ``dW``) instead."""
    return n_out < NARROW <= n_long


@njit(cache=True)
def _scratch(layout, rows, dtype):
    """Scratch for :func:`_forward_pass`'s transposed products: ``X^T`` and ``Z^T`` of a narrow layer."""
    widest = 0
    for l in range(layout.shape[0]):
        widest = max(widest, layout[l, 0])
    return np.empty(rows * (widest + NARROW), dtype)


@njit(cache=True)
def _forward_pass(
    params,
    layout,
    act_codes,
    act_params,
    drop,
    inverted,
    bn,
    bn_mean,
    bn_var,
    bn_momentum,
    bn_eps,
    training,
    x,
    z_buf,
    a_buf,
    mask_buf,
    xhat_buf,
    inv_std,
    rng_state,
    t_buf,
):
    """:func:`forward` with its scratch ``t_buf`` (from :func:`_scratch`) given.

    Three ways to the same values: a narrow layer (fewer than :data:`NARROW` outputs, at
    least as many rows) computes ``Z^T = W^T X^T`` from a transposed copy of its input
    (:func:`dense_forward_transposed`); a ReLU layer without batch norm gets its
    activations from the product (:func:`dense_forward_relu`); else :func:`dense_forward`.
    """
    rows = x.shape[0]
    n_layers = layout.shape[0]
    prev = x
    out = _units(a_buf, layout, n_layers - 1, rows)
    for l in range(n_layers):
        z = _units(z_buf, layout, l, rows)
        a = _units(a_buf, layout, l, rows)
        W = _weights(params, layout, l)
        b = _bias(params, layout, l)
        hidden = l < n_layers - 1
        n_in = layout[l, 0]
        n_out = layout[l, 1]
        narrow = _narrow(n_out, rows)
        fused = hidden and not narrow and act_codes[l] == RELU and bn[l, 0] < 0
        if narrow:
            xt = t_buf[: n_in * rows].reshape((n_in, rows))
            zt = t_buf[n_in * rows : (n_in + n_out) * rows].reshape((n_out, rows))
            transpose_into(prev, xt)
            dense_forward_transposed(W, xt, b, zt)
            transpose_into(zt, z)
        elif fused:
            dense_forward_relu(prev, W, b, z, a)
        else:
            dense_forward(prev, W, b, z)
        if hidden:
            if bn[l, 0] >= 0:
                gamma, beta = _gamma(params, bn, layout, l), _beta(params, bn, layout, l)
                rm, rv = _features(bn_mean, bn, layout, l), _features(bn_var, bn, layout, l)
                if training:
                    batchnorm_forward_train(
                        z,
                        gamma,
                        beta,
                        rm,
                        rv,
                        bn_momentum,
                        bn_eps,
                        z,
                        _units(xhat_buf, layout, l, rows),
                        _features(inv_std, bn, layout, l),
                    )
                else:
                    batchnorm_forward_eval(z, gamma, beta, rm, rv, bn_eps, z)
            if not fused:
                activate(act_codes[l], z, a, act_params[l])
            if drop[l] > 0.0:
                dropout_forward_sample(a, drop[l], inverted, training, rng_state, _units(mask_buf, layout, l, rows), a)
        else:
            a[:, :] = z
        prev = a
    return out


@njit(cache=True)
def forward(
    params,
    layout,
    act_codes,
    act_params,
    drop,
    inverted,
    bn,
    bn_mean,
    bn_var,
    bn_momentum,
    bn_eps,
    training,
    x,
    z_buf,
    a_buf,
    mask_buf,
    xhat_buf,
    inv_std,
    rng_state,
):
    """Forward pass of the rows ``x``; fills every layer's ``z`` and ``a``.

    In training, dropout masks are drawn from ``rng_state`` into ``mask_buf``, and batch
    norm uses the batch statistics (and updates the running ones); in evaluation it
    uses the running statistics and ``xhat_buf`` / ``inv_std`` are not touched.

    Parameters
    ----------
    params : ndarray of float32 (or float64), shape (n_params,)
        Every layer's ``W`` and ``b`` (offsets in ``layout``), then batch norm's gamma and beta.
    layout : ndarray of int64, shape (L, 5)
        Rows ``(n_in, n_out, w_off, b_off, u_off)``, one per layer (the output layer last).
    act_codes : ndarray of int64, shape (max(1, L - 1),)
        Activation code (``dynet.train.activations.ACTIVATION_CODES``) of each hidden layer.
    act_params : ndarray of float64, shape (max(1, L - 1),)
        Each hidden activation's parameter (leaky ReLU's slope, ELU's alpha...).
    drop : ndarray of float64, shape (L,)
        Dropout probability after each layer (0 for the output layer).
    inverted : bool
        Inverted dropout (scale by ``1 / (1 - p)`` in training) or classic (scale by ``1 - p`` in
        evaluation).
    bn : ndarray of int64, shape (L, 2)
        ``(gamma offset in params, offset in bn_mean / bn_var)`` of each batch-normalised layer, -1
        elsewhere.
    bn_mean, bn_var : ndarray of float32, shape (n_features,)
        Running mean and variance of the normalised features (``n_features`` may be 0).
    bn_momentum, bn_eps : float
        PyTorch's momentum of the running statistics, and the variance's epsilon.
    training : bool
        Training mode (dropout on, batch statistics) or evaluation mode.
    x : ndarray of float32, shape (rows, n_in)
        The input rows (``rows`` at most the batch the buffers were sized for).
    z_buf, a_buf, mask_buf : ndarray of float32, shape (n_units,)
        Per-batch pre-activations, activations and dropout masks of every layer (layer ``l`` at
        ``u_off``, ``rows * n_out`` values), written.
    xhat_buf : ndarray of float32, shape (n_units,) or (0,)
        Batch norm's normalised inputs (training; empty without batch norm), written.
    inv_std : ndarray of float32, shape (n_features,)
        Batch norm's ``1 / sqrt(var + eps)`` of the batch (training), written.
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state of the dropout masks, advanced.

    Returns
    -------
    ndarray of float32, shape (rows, n_out)
        The output layer's activations (the logits), a view into ``a_buf``.
    """
    return _forward_pass(
        params,
        layout,
        act_codes,
        act_params,
        drop,
        inverted,
        bn,
        bn_mean,
        bn_var,
        bn_momentum,
        bn_eps,
        training,
        x,
        z_buf,
        a_buf,
        mask_buf,
        xhat_buf,
        inv_std,
        rng_state,
        _scratch(layout, x.shape[0], x.dtype),
    )


@njit(cache=True)
def backward(
    params,
    grads,
    layout,
    act_codes,
    act_params,
    drop,
    inverted,
    bn,
    lowest,
    x,
    z_buf,
    a_buf,
    d_buf,
    mask_buf,
    xhat_buf,
    inv_std,
    wt_buf,
):
    """Back-propagate ``d_buf``'s output-layer rows (dL/dlogits) down to layer ``lowest``.

    Writes ``dW_l = a_{l-1}^T dz_l`` and ``db_l = sum_rows dz_l`` into ``grads`` (not
    accumulated) for the layers ``l >= lowest``, with
    ``dz_{l-1} = f'(z_{l-1}) * dropout(dz_l W_l^T)``; a batch-norm layer first maps
    ``dz_l`` through :func:`batchnorm_backward` (writing d gamma and d beta) and gets
    ``db_l = 0``. Layers below ``lowest`` are not touched. ``wt_buf`` is scratch for a
    transposed weight matrix. A narrow layer (fewer than :data:`NARROW` outputs, at
    least as many inputs) computes ``dW_l^T`` and transposes it; below a ReLU layer
    without dropout the derivative is applied inside the ``dz_l W_l^T`` product. Both
    give the same values as the plain kernels.

    Parameters
    ----------
    params, grads : ndarray of float32 (or float64), shape (n_params,)
        Parameters (read) and their gradients (written for the layers ``l >= lowest``).
    layout : ndarray of int64, shape (L, 5)
        Rows ``(n_in, n_out, w_off, b_off, u_off)``, one per layer (the output layer last).
    act_codes : ndarray of int64, shape (max(1, L - 1),)
        Activation code (``dynet.train.activations.ACTIVATION_CODES``) of each hidden layer.
    act_params : ndarray of float64, shape (max(1, L - 1),)
        Each hidden activation's parameter (leaky ReLU's slope, ELU's alpha...).
    drop : ndarray of float64, shape (L,)
        Dropout probability after each layer (0 for the output layer).
    inverted : bool
        Inverted dropout (scale by ``1 / (1 - p)`` in training) or classic (scale by ``1 - p`` in
        evaluation).
    bn : ndarray of int64, shape (L, 2)
        ``(gamma offset in params, offset in bn_mean / bn_var)`` of each batch-normalised layer, -1
        elsewhere.
    lowest : int
        The lowest layer back-propagated to (the lowest that is not frozen).
    x : ndarray of float32, shape (rows, n_in)
        The batch's inputs (as given to :func:`forward`).
    z_buf, a_buf, mask_buf : ndarray of float32, shape (n_units,)
        The forward pass's buffers of this batch (read).
    d_buf : ndarray of float32, shape (n_units,)
        Gradients w.r.t. each layer's outputs: the output layer's rows given, the others written.
    xhat_buf : ndarray of float32, shape (n_units,) or (0,)
        Batch norm's normalised inputs from the forward pass.
    inv_std : ndarray of float32, shape (n_features,)
        Batch norm's ``1 / sqrt(var + eps)`` from the forward pass.
    wt_buf : ndarray of float32, shape (max_l n_in * n_out,)
        Scratch for one transposed weight matrix.
    """
    rows = x.shape[0]
    n_layers = layout.shape[0]
    for l in range(n_layers - 1, lowest - 1, -1):
        dz = _units(d_buf, layout, l, rows)
        has_bn = l < n_layers - 1 and bn[l, 0] >= 0
        if has_bn:
            batchnorm_backward(
                dz,
                _units(xhat_buf, layout, l, rows),
                _gamma(params, bn, layout, l),
                _features(inv_std, bn, layout, l),
                dz,
                _gamma(grads, bn, layout, l),
                _beta(grads, bn, layout, l),
            )
        prev = x if l == 0 else _units(a_buf, layout, l - 1, rows)
        n_in = layout[l, 0]
        n_out = layout[l, 1]
        if _narrow(n_out, n_in):
            dwt = wt_buf[: n_in * n_out].reshape((n_out, n_in))
            dense_backward_params_transposed(prev, dz, dwt, _bias(grads, layout, l))
            transpose_into(dwt, _weights(grads, layout, l))
        else:
            dense_backward_params(prev, dz, _weights(grads, layout, l), _bias(grads, layout, l))
        if has_bn:
            _bias(grads, layout, l)[:] = 0.0  # the batch mean cancels the bias
        if l > lowest:
            wt = wt_buf[: n_in * n_out].reshape((n_out, n_in))
            transpose_into(_weights(params, layout, l), wt)
            da = _units(d_buf, layout, l - 1, rows)
            z_prev = _units(z_buf, layout, l - 1, rows)
            if act_codes[l - 1] == RELU and drop[l - 1] == 0.0:
                dense_backward_input_relu(dz, wt, z_prev, da)
            else:
                dense_backward_input_transposed(dz, wt, da)
                if drop[l - 1] > 0.0:
                    dropout_backward(da, _units(mask_buf, layout, l - 1, rows), drop[l - 1], inverted, True, da)
                activate_backward(
                    act_codes[l - 1], z_prev, _units(a_buf, layout, l - 1, rows), da, da, act_params[l - 1]
                )


@njit(cache=True)
def _layer_segments(layout, bn, l):
    """``(w0, w1, g0, g1)``: layer ``l``'s parameters in the flat buffer are ``[w0, w1)`` (W and b)
    and ``[g0, g1)`` (gamma and beta; empty without batch norm). A tuple, so the per-batch
    callers allocate nothing."""
    g0 = 0
    g1 = 0
    if l < layout.shape[0] - 1 and bn[l, 0] >= 0:
        g0 = bn[l, 0]
        g1 = bn[l, 0] + 2 * layout[l, 1]
    return layout[l, 2], layout[l, 3] + layout[l, 1], g0, g1


@njit(cache=True)
def zero_frozen(grads, layout, bn, frozen):
    """Set the gradients of every parameter of the frozen layers to 0.

    Parameters
    ----------
    grads : ndarray of float32, shape (n_params,)
        Gradients, laid out like ``params`` (updated in place).
    layout : ndarray of int64, shape (L, 5)
    bn : ndarray of int64, shape (L, 2)
    frozen : ndarray of bool, shape (L,)
        Which layers are frozen.
    """
    for l in range(layout.shape[0]):
        if frozen[l]:
            w0, w1, g0, g1 = _layer_segments(layout, bn, l)
            grads[w0:w1] = 0.0
            grads[g0:g1] = 0.0


@njit(cache=True)
def restore_frozen(saved, params, layout, bn, frozen):
    """Copy the parameters of the frozen layers from ``saved`` back into ``params``.

    Parameters
    ----------
    saved, params : ndarray of float32, shape (n_params,)
        The values to restore, and the parameters (updated in place).
    layout : ndarray of int64, shape (L, 5)
    bn : ndarray of int64, shape (L, 2)
    frozen : ndarray of bool, shape (L,)
    """
    for l in range(layout.shape[0]):
        if frozen[l]:
            w0, w1, g0, g1 = _layer_segments(layout, bn, l)
            params[w0:w1] = saved[w0:w1]
            params[g0:g1] = saved[g0:g1]


@njit(cache=True)
def penalize(params, grads, layout, l1, l2):
    """Add the gradients of ``l1 * sum|W| + l2/2 * sum W^2`` over every weight matrix (not biases).

    Parameters
    ----------
    params, grads : ndarray of float32, shape (n_params,)
        Parameters (read) and gradients (added to).
    layout : ndarray of int64, shape (L, 5)
    l1, l2 : float
        Penalty coefficients.

    Returns
    -------
    float
        The penalty's value.
    """
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
    """``out[l] = ||W_l||_2`` (Frobenius) of the weight part of ``arr`` for each layer.

    Parameters
    ----------
    arr : ndarray of float32, shape (n_params,)
        Parameters, gradients or a difference of parameters, laid out like ``params``.
    layout : ndarray of int64, shape (L, 5)
    out : ndarray of float64, shape (L,)
        Written.
    """
    for l in range(layout.shape[0]):
        w = arr[layout[l, 2] : layout[l, 2] + layout[l, 0] * layout[l, 1]]
        acc = 0.0
        for i in range(w.shape[0]):  # 0-based: no negative-index check per element
            acc += w[i] * w[i]
        out[l] = np.sqrt(acc)


@njit(cache=True)
def train_epoch(
    params,
    grads,
    opt_code,
    opt_state,
    opt_hyper,
    step0,
    lrs,
    layout,
    act_codes,
    act_params,
    drop,
    inverted,
    bn,
    bn_mean,
    bn_var,
    bn_momentum,
    bn_eps,
    frozen,
    loss_code,
    l1,
    l2,
    clip_norm,
    clip_value,
    sampling,
    batch_size,
    X,
    Y,
    labels,
    x_buf,
    y_buf,
    lab_buf,
    idx,
    z_buf,
    a_buf,
    d_buf,
    mask_buf,
    xhat_buf,
    inv_std,
    wt_buf,
    rng_state,
    step_loss,
    grad_norm_sum,
    update_ratio,
    before,
):
    """One epoch of mini-batch training; returns ``(n_steps, diverged_step)``.

    Batches: ``ceil(n / batch_size)`` of them; rows drawn by a fresh permutation (the last
    batch smaller, like PyTorch's DataLoader) or uniformly with replacement. For each
    batch: forward (training mode), loss and dL/dlogits, backward (down to the lowest
    layer that is not frozen), L1/L2 penalty gradients, the frozen layers' gradients set
    to 0, clipping by global norm (``clip_norm > 0``, as ``clip_grad_norm_``) and by value
    (``clip_value > 0``), then one optimizer step ``t = step0 + k + 1`` at learning rate
    ``lrs[k]``, after which the frozen layers' parameters are put back (undoing weight
    decay and momentum, which move parameters without a gradient). Targets: ``Y`` (float
    rows) for value losses, ``labels`` for label losses; the unused one has zero rows.

    Per step ``k``: ``step_loss[k]`` (data loss of the batch, before the step). Per layer:
    ``grad_norm_sum[l]`` accumulates ``||dW_l||`` (after penalties, before clipping);
    ``update_ratio[l] = ||W_l(after) - W_l(before)|| / ||W_l(before)||`` of the last step
    (``before`` is scratch of params' size). Stops at the first non-finite loss and
    returns its step index as ``diverged_step`` (else -1).

    Parameters
    ----------
    params, grads : ndarray of float32, shape (n_params,)
        Parameters (trained in place) and gradient scratch.
    opt_code : int
        Optimizer code (``dynet.train.optimizers.OPTIMIZERS[name].code``).
    opt_state : ndarray of float32, shape (n_state, n_params)
        Optimizer state (``OptimizerParams.init_state``), updated.
    opt_hyper : ndarray of float64, shape (n_hyper,)
        Hyper-parameters after ``lr`` (``OptimizerParams.pack_hyper``).
    step0 : int
        Optimizer steps taken before this epoch.
    lrs : ndarray of float64, shape (n_batches,)
        Learning rate of each step of the epoch (``dynet.train.schedules.lr_array``).
    layout : ndarray of int64, shape (L, 5)
        Rows ``(n_in, n_out, w_off, b_off, u_off)``, one per layer (the output layer last).
    act_codes : ndarray of int64, shape (max(1, L - 1),)
        Activation code (``dynet.train.activations.ACTIVATION_CODES``) of each hidden layer.
    act_params : ndarray of float64, shape (max(1, L - 1),)
        Each hidden activation's parameter (leaky ReLU's slope, ELU's alpha...).
    drop : ndarray of float64, shape (L,)
        Dropout probability after each layer (0 for the output layer).
    inverted : bool
        Inverted dropout (scale by ``1 / (1 - p)`` in training) or classic (scale by ``1 - p`` in
        evaluation).
    bn : ndarray of int64, shape (L, 2)
        ``(gamma offset, statistics offset)`` of each batch-normalised layer, -1 elsewhere.
    bn_mean, bn_var : ndarray of float32, shape (n_features,)
        Running mean and variance of the normalised features (``n_features`` may be 0).
    bn_momentum, bn_eps : float
    frozen : ndarray of bool, shape (L,)
        Layers that training does not change.
    loss_code : int
        ``dynet.train.losses.LOSS_CODES[name]``.
    l1, l2, clip_norm, clip_value : float
        Penalties and clipping thresholds (0: off).
    sampling : int
        ``SAMPLE_PERMUTATION`` or ``SAMPLE_REPLACEMENT``.
    batch_size : int
    X : ndarray of float32, shape (n, n_in)
        Training inputs.
    Y : ndarray of float32, shape (n, k) or (0, 0)
        Targets of value losses (empty for label losses).
    labels : ndarray of int64, shape (n,) or (0,)
        Class labels of label losses (empty for value losses).
    x_buf : ndarray of float32, shape (batch_size * n_in,)
    y_buf : ndarray of float32, shape (batch_size * max(1, k),)
    lab_buf : ndarray of int64, shape (batch_size,)
        Scratch for a batch's rows.
    idx : ndarray of int64, shape (n,) or (n_batches * batch_size,)
        Scratch for the epoch's row order (permutation, or draws with replacement).
    z_buf, a_buf, d_buf, mask_buf : ndarray of float32, shape (n_units,)
    xhat_buf : ndarray of float32, shape (n_units,) or (0,)
    inv_std : ndarray of float32, shape (n_features,)
    wt_buf : ndarray of float32, shape (max_l n_in * n_out,)
        Per-batch buffers (see :func:`forward` and :func:`backward`).
    rng_state : ndarray of uint64, shape (4,)
        xoshiro256** state (sampling and dropout), advanced.
    step_loss : ndarray of float64, shape (n_batches,)
    grad_norm_sum, update_ratio : ndarray of float64, shape (L,)
    before : ndarray of float32, shape (n_params,)
        Scratch.

    Returns
    -------
    (int, int)
        ``(n_steps, diverged_step)``.
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
    lowest = 0  # back-propagation stops at the lowest layer that is trained
    while lowest < n_layers and frozen[lowest]:
        lowest += 1
    any_frozen = frozen.any()
    frozen_values = params.copy() if any_frozen else params[:0]
    t_buf = _scratch(layout, batch_size, x_buf.dtype)
    for k in range(n_batches):
        start = k * batch_size
        stop = min(start + batch_size, n) if sampling == SAMPLE_PERMUTATION else start + batch_size
        rows = stop - start
        xb = x_buf[: rows * n_in].reshape((rows, n_in))
        for r in range(rows):
            xb[r, :] = X[idx[start + r]]
        yb = y_buf[: rows * Y.shape[1]].reshape((rows, Y.shape[1]))  # (rows, 0) for label losses
        if Y.shape[0] > 0:
            for r in range(rows):
                yb[r, :] = Y[idx[start + r]]
        lb = lab_buf[:rows]  # not read by value losses
        if labels.shape[0] > 0:
            for r in range(rows):
                lb[r] = labels[idx[start + r]]
        out = _forward_pass(
            params,
            layout,
            act_codes,
            act_params,
            drop,
            inverted,
            bn,
            bn_mean,
            bn_var,
            bn_momentum,
            bn_eps,
            True,
            xb,
            z_buf,
            a_buf,
            mask_buf,
            xhat_buf,
            inv_std,
            rng_state,
            t_buf,
        )
        g_out = _units(d_buf, layout, n_layers - 1, rows)
        loss = loss_and_grad(loss_code, out, yb, lb, g_out)
        step_loss[k] = loss
        if not np.isfinite(loss):
            return k, k
        backward(
            params,
            grads,
            layout,
            act_codes,
            act_params,
            drop,
            inverted,
            bn,
            lowest,
            xb,
            z_buf,
            a_buf,
            d_buf,
            mask_buf,
            xhat_buf,
            inv_std,
            wt_buf,
        )
        if l1 != 0.0 or l2 != 0.0:
            penalize(params, grads, layout, l1, l2)
        if any_frozen:
            zero_frozen(grads, layout, bn, frozen)
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
        if any_frozen:
            restore_frozen(frozen_values, params, layout, bn, frozen)
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
def evaluate(
    params,
    layout,
    act_codes,
    act_params,
    drop,
    inverted,
    bn,
    bn_mean,
    bn_var,
    bn_eps,
    X,
    batch_size,
    z_buf,
    a_buf,
    mask_buf,
    x_buf,
    out,
    act_sum,
    act_sq,
    alive,
    keep_layer,
    kept,
    rng_state,
):
    """Forward pass in evaluation mode over every row of ``X``, ``batch_size`` rows at a time.

    Writes the logits to ``out`` (n, n_out). For hidden layer ``l``: ``act_sum[l]`` and
    ``act_sq[l]`` get the sum and sum of squares of its outputs (after evaluation-mode
    dropout, which scales by ``1 - p`` in the classic variant), and ``alive[u]`` (over hidden
    units in layer order) is set when unit ``u`` is nonzero for some row, so
    ``1 - mean(alive)`` of a ReLU layer is its dead fraction.
    With ``keep_layer >= 0``, that hidden layer's outputs are copied into ``kept`` (n, width)
    (an autoencoder's bottleneck codes). Batch norm uses the running statistics.

    Parameters
    ----------
    params : ndarray of float32 (or float64), shape (n_params,)
        Every layer's ``W`` and ``b`` (offsets in ``layout``), then batch norm's gamma and beta.
    layout : ndarray of int64, shape (L, 5)
        Rows ``(n_in, n_out, w_off, b_off, u_off)``, one per layer (the output layer last).
    act_codes : ndarray of int64, shape (max(1, L - 1),)
        Activation code (``dynet.train.activations.ACTIVATION_CODES``) of each hidden layer.
    act_params : ndarray of float64, shape (max(1, L - 1),)
        Each hidden activation's parameter (leaky ReLU's slope, ELU's alpha...).
    drop : ndarray of float64, shape (L,)
        Dropout probability after each layer (0 for the output layer).
    inverted : bool
        Inverted dropout (scale by ``1 / (1 - p)`` in training) or classic (scale by ``1 - p`` in
        evaluation).
    bn : ndarray of int64, shape (L, 2)
        ``(gamma offset in params, offset in bn_mean / bn_var)`` of each batch-normalised layer, -1
        elsewhere.
    bn_mean, bn_var : ndarray of float32, shape (n_features,)
        Running mean and variance of the normalised features (``n_features`` may be 0).
    bn_eps : float
    X : ndarray of float32, shape (n, n_in)
    batch_size : int
    z_buf, a_buf, mask_buf : ndarray of float32, shape (n_units,)
        Per-batch buffers sized for ``batch_size`` rows.
    x_buf : ndarray of float32, shape (batch_size * n_in,)
    out : ndarray of float32, shape (n, n_out)
        The logits, written.
    act_sum, act_sq : ndarray of float64, shape (max(1, L - 1),)
        Written.
    alive : ndarray of bool, shape (n_hidden_units,)
        Written.
    keep_layer : int
        Hidden layer whose outputs are kept (-1: none).
    kept : ndarray of float32, shape (n, width) or (n, 0)
        Written when ``keep_layer >= 0``.
    rng_state : ndarray of uint64, shape (4,)
        Unused in evaluation (a uniform signature).
    """
    n = X.shape[0]
    n_in = X.shape[1]
    n_layers = layout.shape[0]
    act_sum[:] = 0.0
    act_sq[:] = 0.0
    alive[:] = False
    t_buf = _scratch(layout, batch_size, x_buf.dtype)
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        xb = x_buf[: rows * n_in].reshape((rows, n_in))
        xb[:, :] = X[start : start + rows]
        o = _forward_pass(
            params,
            layout,
            act_codes,
            act_params,
            drop,
            inverted,
            bn,
            bn_mean,
            bn_var,
            0.0,
            bn_eps,
            False,
            xb,
            z_buf,
            a_buf,
            mask_buf,
            z_buf[:0],
            bn_mean[:0],
            rng_state,
            t_buf,
        )  # no xhat / inv_std in evaluation
        out[start : start + rows] = o
        if keep_layer >= 0:
            kept[start : start + rows] = _units(a_buf, layout, keep_layer, rows)
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
