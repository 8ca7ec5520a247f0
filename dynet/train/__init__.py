"""Shared training stack for the trained models (feedforward nets, later RBMs).

Kernels here follow the house style of :mod:`dynet.kernels` (module-level
``@njit(cache=True)`` functions over arrays, no I/O, no globals, outputs allocated
by the caller). Among the modules:

* :mod:`dynet.train.optimizers`: PyTorch-compatible optimizer steps (SGD, Adagrad,
  Adadelta, RMSprop, Adam, AdamW) over flat parameter and gradient buffers,
  gradient clipping, and the ``OPTIMIZERS`` registry: one pydantic model per optimizer.
* :mod:`dynet.train.schedules`: learning-rate schedules with
  ``torch.optim.lr_scheduler`` semantics, precomputed per step by ``lr_array`` for
  the training kernels, and ``ReduceLROnPlateau`` driven once per epoch.
* :mod:`dynet.train.hyper`: the base of the optimizer, schedule and initializer models
  (hyper-parameters declared once, validated by pydantic like the scenarios, dumped
  as the user gave them so run ids do not move).
* :mod:`dynet.train.optimizer_params`, :mod:`dynet.train.init_params`: the optimizer and
  initializer models themselves, apart from the kernels; with :mod:`dynet.train.hyper` and
  :mod:`dynet.train.schedules` (numpy only) they are all a scenario schema imports, so
  validating a scenario never imports numba. The modules with the kernels import them.
"""
