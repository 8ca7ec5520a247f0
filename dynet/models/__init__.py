"""The model kinds: :data:`REGISTRY` is the only list of them.

The scenario union, ``dynet schema``, the CLI's help, the workers' warm-up and the
contract tests all derive from it. Adding a kind is a package ``dynet/models/<kind>/``
(see :mod:`dynet.models.kind`) and one line below.
"""

from __future__ import annotations

from . import boltzmann, dam, dbm, dbn, feedforward, graded_hopfield, hopfield, ising, modern_hopfield, rbm, rnn
from .kind import ModelKind

#: Model kind name -> :class:`ModelKind`, in the order help and messages list them.
REGISTRY: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        hopfield.KIND,
        dam.KIND,
        modern_hopfield.KIND,
        graded_hopfield.KIND,
        feedforward.KIND,
        rnn.KIND,
        ising.KIND,
        rbm.KIND,
        dbm.KIND,
        dbn.KIND,
        boltzmann.KIND,
    )
}

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str) -> ModelKind:
    """The model kind ``name`` (KeyError if there is none)."""
    return REGISTRY[name]


__all__ = ["MODEL_NAMES", "REGISTRY", "ModelKind", "get"]
