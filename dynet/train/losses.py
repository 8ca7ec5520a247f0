"""Loss functions with their gradients as numba kernels.

Each loss ``name(output, target, grad)`` returns the (float64) loss value and writes
``grad = dL/d output`` into the caller-allocated ``grad``, which has ``output``'s
shape. Reductions match PyTorch's ``reduction='mean'`` and the gradient includes
the ``1/count`` factor, so it is the gradient of the returned number.

* ``output`` is the network output *before* any output nonlinearity (logits)
  for every loss except ``mse``, which compares whatever the network emits (so
  pair the other losses with an ``identity`` output layer: sigmoid and softmax
  happen inside ``bce_with_logits`` and ``cross_entropy``):
  shape ``(batch, n_out)``, float32 in training, any float dtype works (numba
  compiles one specialisation per dtype; the loss is accumulated in float64).
* ``target`` is either dense values of ``output``'s shape (float; see
  :data:`LOSS_TARGETS`, ``"values"``) or integer class labels of shape ``(batch,)``
  (``"labels"``), each in ``0 .. n_out - 1`` (out of range raises ``ValueError``).

With ``N = batch``, ``C = n_out``, ``M = N * C``, ``s(x) = 1 / (1 + exp(-x))``, float
targets ``y`` and integer labels ``t`` (loss; gradient ``dL/dz``):

* ``mse`` (``MSELoss``): ``(1/M) sum (z - y)^2``; ``2 (z - y) / M``.
* ``bce_with_logits`` (``BCEWithLogitsLoss``, ``y`` in [0, 1]):
  ``(1/M) sum max(z, 0) - z y + log1p(exp(-|z|))``; ``(s(z) - y) / M``.
* ``cross_entropy`` (``CrossEntropyLoss``, i.e. NLL of log-softmax):
  ``(1/N) sum_n logsumexp(z_n) - z_n[t_n]``; ``(softmax(z_n) - onehot(t_n)) / N``.
* ``hinge`` (``y`` in {-1, +1}): ``(1/M) sum max(0, 1 - y z)``; ``-y / M`` where
  ``y z <= 1``, else 0.
* ``multi_margin`` (``MultiMarginLoss(p=1, margin=1)``, Weston-Watkins):
  ``(1/(N C)) sum_n sum_{j != t_n} max(0, 1 - z_n[t_n] + z_n[j])``; each positive term
  adds ``1/M`` at ``j`` and ``-1/M`` at ``t_n``.
* ``perceptron`` (``y`` in {-1, +1}): ``(1/M) sum max(0, -y z)``; ``-y / M`` where
  ``y z <= 0``, else 0.

Subgradients at the kinks: ``hinge`` and ``perceptron`` follow scikit-learn's SGD
losses (``dloss = -y`` when ``y z <= threshold``): at ``y z == 0`` the perceptron
still updates, which is what lets Rosenblatt's rule leave an all-zero start.
``multi_margin`` follows PyTorch (a term counts only when ``1 - z_t + z_j > 0``).
The multi-class hinge is Weston-Watkins (a sum over every wrong class, averaged
over the ``C`` classes as ``MultiMarginLoss`` does), not Crammer-Singer (the single
largest violation).

Stability: ``bce_with_logits`` uses the form above and a branch-stable sigmoid;
``cross_entropy`` subtracts the row maximum before ``exp``; at ``|z| = 1e4`` in
float32 every loss and gradient is finite.
"""

import math

from numba import njit

MSE = 0
BCE_WITH_LOGITS = 1
CROSS_ENTROPY = 2
HINGE = 3
MULTI_MARGIN = 4
PERCEPTRON = 5

LOSS_CODES = {
    "mse": MSE,
    "bce_with_logits": BCE_WITH_LOGITS,
    "cross_entropy": CROSS_ENTROPY,
    "hinge": HINGE,
    "multi_margin": MULTI_MARGIN,
    "perceptron": PERCEPTRON,
}

# "values": a float target of output's shape; "labels": integer classes of shape (batch,).
LOSS_TARGETS = {
    "mse": "values",
    "bce_with_logits": "values",
    "cross_entropy": "labels",
    "hinge": "values",
    "multi_margin": "labels",
    "perceptron": "values",
}


@njit(cache=True)
def _check_labels(labels, n_rows, n_classes):
    if labels.shape[0] != n_rows:
        raise ValueError("labels must have one entry per output row")
    for i in range(n_rows):
        if labels[i] < 0 or labels[i] >= n_classes:
            raise ValueError("class label out of range")


@njit(cache=True)
def mse(output, target, grad):
    """Mean squared error over all ``M`` elements; ``grad = 2 (z - y) / M``."""
    n, c = output.shape
    scale = 1.0 / (n * c)
    total = 0.0
    for i in range(n):
        for j in range(c):
            d = output[i, j] - target[i, j]
            total += d * d
            grad[i, j] = 2.0 * scale * d
    return total * scale


@njit(cache=True)
def bce_with_logits(output, target, grad):
    """Binary cross-entropy on logits, mean over all ``M`` elements; ``grad = (s(z) - y) / M``.

    Per element ``max(z, 0) - z y + log1p(exp(-|z|))`` = ``-y log s(z) - (1 - y) log(1 - s(z))``.
    """
    n, c = output.shape
    scale = 1.0 / (n * c)
    total = 0.0
    for i in range(n):
        for j in range(c):
            z = output[i, j]
            y = target[i, j]
            e = math.exp(-abs(z))
            total += max(z, 0.0) - z * y + math.log1p(e)
            s = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
            grad[i, j] = scale * (s - y)
    return total * scale


@njit(cache=True)
def cross_entropy(output, labels, grad):
    """Softmax cross-entropy with integer labels, mean over the batch.

    ``L = (1/N) sum_n lse_n - z[n, t_n]`` with ``lse_n = m_n + log sum_j exp(z[n, j] - m_n)``,
    ``m_n = max_j z[n, j]``; ``grad[n, j] = (exp(z[n, j] - lse_n) - [j == t_n]) / N``.
    """
    n, c = output.shape
    _check_labels(labels, n, c)
    scale = 1.0 / n
    total = 0.0
    for i in range(n):
        m = output[i, 0]
        for j in range(1, c):
            if output[i, j] > m:
                m = output[i, j]
        acc = 0.0
        for j in range(c):
            acc += math.exp(output[i, j] - m)
        lse = m + math.log(acc)
        t = labels[i]
        total += lse - output[i, t]
        for j in range(c):
            grad[i, j] = scale * math.exp(output[i, j] - lse)
        grad[i, t] = grad[i, t] - scale
    return total * scale


@njit(cache=True)
def _margin_loss(output, target, grad, margin):
    """``(1/M) sum max(0, margin - y z)`` for ``y`` in {-1, +1}; ``grad = -y / M`` where ``y z <= margin``."""
    n, c = output.shape
    scale = 1.0 / (n * c)
    total = 0.0
    for i in range(n):
        for j in range(c):
            y = target[i, j]
            v = margin - y * output[i, j]
            if v >= 0.0:
                total += v
                grad[i, j] = -scale * y
            else:
                grad[i, j] = 0.0
    return total * scale


@njit(cache=True)
def hinge(output, target, grad):
    """Binary hinge ``(1/M) sum max(0, 1 - y z)`` for ``y`` in {-1, +1}; ``grad = -y / M`` where ``y z <= 1``."""
    return _margin_loss(output, target, grad, 1.0)


@njit(cache=True)
def multi_margin(output, labels, grad):
    """Weston-Watkins multi-class hinge, as ``torch.nn.MultiMarginLoss(p=1, margin=1)``.

    ``L = (1/(N C)) sum_n sum_{j != t_n} max(0, 1 - z[n, t_n] + z[n, j])``. Each
    positive term adds ``1/(N C)`` to ``grad[n, j]`` and subtracts it from ``grad[n, t_n]``.
    """
    n, c = output.shape
    _check_labels(labels, n, c)
    scale = 1.0 / (n * c)
    total = 0.0
    for i in range(n):
        t = labels[i]
        zt = output[i, t]
        g_t = 0.0
        for j in range(c):
            if j == t:
                continue
            v = 1.0 - zt + output[i, j]
            if v > 0.0:
                total += v
                grad[i, j] = scale
                g_t -= scale
            else:
                grad[i, j] = 0.0
        grad[i, t] = g_t
    return total * scale


@njit(cache=True)
def perceptron(output, target, grad):
    """Perceptron criterion ``(1/M) sum max(0, -y z)`` for ``y`` in {-1, +1}; ``grad = -y / M`` where ``y z <= 0``."""
    return _margin_loss(output, target, grad, 0.0)


@njit(cache=True)
def loss_and_grad(code, output, target, labels, grad):
    """Loss with integer ``code`` (see :data:`LOSS_CODES`); returns the loss, writes ``grad``.

    Both target forms are passed so one compiled kernel serves every loss: ``target``
    (float, ``output``'s shape) for the ``"values"`` losses and ``labels`` (int,
    ``(batch,)``) for the ``"labels"`` ones; the unused one may be an empty array of
    the right dtype and rank.

    Parameters
    ----------
    code : int
        ``LOSS_CODES[name]``.
    output : ndarray of float32 (or float64), shape (batch, k)
        Logits.
    target : ndarray of float32 (or float64), shape (batch, k) or empty
        Targets of the ``"values"`` losses.
    labels : ndarray of int64, shape (batch,) or (0,)
        Class labels of the ``"labels"`` losses.
    grad : ndarray of float32 (or float64), shape (batch, k)
        ``dL/doutput``, written.

    Returns
    -------
    float
        The loss (PyTorch's ``reduction="mean"``).
    """
    if code == MSE:
        return mse(output, target, grad)
    if code == BCE_WITH_LOGITS:
        return bce_with_logits(output, target, grad)
    if code == CROSS_ENTROPY:
        return cross_entropy(output, labels, grad)
    if code == HINGE:
        return hinge(output, target, grad)
    if code == MULTI_MARGIN:
        return multi_margin(output, labels, grad)
    if code == PERCEPTRON:
        return perceptron(output, target, grad)
    raise ValueError("unknown loss code")


LOSSES = {
    "mse": mse,
    "bce_with_logits": bce_with_logits,
    "cross_entropy": cross_entropy,
    "hinge": hinge,
    "multi_margin": multi_margin,
    "perceptron": perceptron,
}
