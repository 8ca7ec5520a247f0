"""The scenario schema of deep belief networks: every table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from dynet.config import (
    RBMSchedule,
    ScenarioBase,
    Strict,
    check_schedule,
    data_shape,
    default_schedule,
    dense_memory,
    format_error,
    rbm_layers_memory,
)
from dynet.models.feedforward.config import (
    EarlyStopping,
    FeedforwardInit,
    FeedforwardOptimizer,
    FeedforwardRecord,
    FeedforwardRegularization,
    FeedforwardScenario,
    FeedforwardSchedule,
    FeedforwardTraining,
)
from dynet.models.rbm.config import RBMSparsity, RBMTraining

#: ``data.threshold``'s default: with ``visible = "binary"``, a pixel / 16 above one half is on.
BINARY_THRESHOLD = 0.5


class DBNData(Strict):
    """The bundled 8x8 digits (1797 x 64, 10 classes), split into training, validation and test
    rows as a feedforward run splits them; pretraining sees the training rows only."""

    source: Literal["digits"]
    visible: Literal["probability", "binary"] = Field(
        "probability",
        description="probability: the inputs are pixel / 16 and every pretraining epoch "
        "draws fresh binary visible vectors from them; binary: pixel / 16 > threshold, for both.",
    )
    threshold: float | None = Field(
        None,
        ge=0,
        lt=1,
        description=f"visible = 'binary' only: pixel / 16 above this is 1 (default {BINARY_THRESHOLD}).",
    )
    validation: float = Field(0.2, ge=0, lt=1, description="Fraction of samples held out for validation.")
    test: float = Field(0.0, ge=0, lt=1, description="Fraction of samples held out for the test split.")

    @model_validator(mode="after")
    def _consistent(self):
        if self.validation + self.test >= 1:
            raise ValueError("validation: validation + test must leave samples for training")
        if self.threshold is not None and self.visible != "binary":
            raise ValueError("threshold: only applies to visible = 'binary' (probability inputs are not thresholded)")
        return self

    @property
    def binary_threshold(self) -> float:
        """The threshold of ``visible = "binary"``: ``threshold``, or :data:`BINARY_THRESHOLD` when unset
        (left unset in the stored config, so that run ids do not change)."""
        return BINARY_THRESHOLD if self.threshold is None else self.threshold


class DBNNetwork(Strict):
    hidden: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        description="Hidden layer sizes, bottom up: RBM l has hidden[l] hidden units; the classifier has "
        "these sigmoid layers and a softmax output layer."
    )

    @model_validator(mode="after")
    def _not_empty(self):
        if not self.hidden:
            raise ValueError("hidden: needs at least one hidden layer (a DBN is a stack of RBMs)")
        return self


class DBNPretraining(RBMTraining):
    """Greedy layer-wise RBM training: every layer with the rbm scenario's ``[training]`` options
    and these initial parameters (the rbm scenario's ``network`` keys), schedule and sparsity."""

    init_std: float = Field(0.01, gt=0, le=10, description="Initial weights W ~ N(0, init_std^2).")
    visible_bias: Literal["zero", "data"] = Field(
        "zero",
        description="Initial visible biases: zero or log(p_i / (1 - p_i)) of the layer's training "
        "input (Hinton's guide).",
    )
    hidden_bias: float = Field(0.0, description="Initial hidden biases.")
    schedule: RBMSchedule = Field(default_factory=default_schedule)
    sparsity: RBMSparsity | None = None

    @model_validator(mode="after")
    def _schedule(self):
        check_schedule(self.schedule, self.lr, no_plateau="pretraining")
        return self


#: The dbn scenario's tables that configure fine-tuning: the feedforward scenario's own.
DBN_FINE_TUNING = ("init", "optimizer", "schedule", "training", "regularization", "early_stopping", "record")


def dbn_feedforward_doc(dbn: dict) -> dict:
    """The feedforward scenario (a dict, as from TOML) that fine-tunes a dbn scenario's network:
    the same digits split (unstandardized: the dbn driver rescales the pixels), an mlp with the
    dbn's hidden sizes and sigmoid units, and the dbn's fine-tuning tables."""
    data = dbn["data"]
    doc = {
        "name": dbn.get("name", "dbn"),
        "model": "feedforward",
        "seed": dbn["seed"],
        "data": {
            "source": "digits",
            "validation": data.get("validation", 0.2),
            "test": data.get("test", 0.0),
            "standardize": False,
        },
        "network": {"kind": "mlp", "hidden": list(dbn["network"]["hidden"]), "activation": "sigmoid"},
    }
    doc.update({k: dbn[k] for k in DBN_FINE_TUNING if k in dbn})
    return doc


class DBNScenario(ScenarioBase):
    """A deep belief network: greedy layer-wise RBM pretraining, then a sigmoid classifier
    initialized from it and fine-tuned by backpropagation (or, with ``pretrain = false``, the
    same classifier trained from its random initialization)."""

    model: Literal["dbn"]
    data: DBNData
    network: DBNNetwork
    pretrain: bool = Field(
        True,
        description="Initialize the hidden layers from the pretrained RBMs (false: from init.weights, the baseline).",
    )
    pretraining: DBNPretraining = Field(default_factory=DBNPretraining)
    # fine-tuning: the feedforward scenario's fields, with its defaults and checks
    init: FeedforwardInit = FeedforwardScenario.model_fields["init"]
    optimizer: FeedforwardOptimizer = FeedforwardScenario.model_fields["optimizer"]
    schedule: FeedforwardSchedule = FeedforwardScenario.model_fields["schedule"]
    training: FeedforwardTraining = FeedforwardScenario.model_fields["training"]
    regularization: FeedforwardRegularization = FeedforwardScenario.model_fields["regularization"]
    early_stopping: EarlyStopping | None = FeedforwardScenario.model_fields["early_stopping"]
    record: FeedforwardRecord = FeedforwardScenario.model_fields["record"]

    @model_validator(mode="after")
    def _fine_tuning(self):
        if getattr(self.init, "transfer", None) is not None:
            raise ValueError(
                "init.transfer: a dbn initializes its hidden layers by pretraining; transfer "
                "layers in a feedforward scenario"
            )
        bn = getattr(self.regularization, "batch_norm", False)
        if self.pretrain and (any(bn) if isinstance(bn, list) else bn):
            raise ValueError(
                "regularization.batch_norm: normalizing the pretrained layers' pre-activations, "
                "the network would no longer compute the RBMs' p(h | v); not with pretrain = true"
            )
        # the checks across tables (dropout per layer, early stopping and plateau need a validation split)
        try:
            self.fine_tuning()
        except ValidationError as exc:
            raise ValueError("; ".join(format_error(FeedforwardScenario, e) for e in exc.errors())) from None
        return self

    def fine_tuning(self) -> FeedforwardScenario:
        """The typed feedforward scenario that fine-tunes this network (:func:`dbn_feedforward_doc`)."""
        return FeedforwardScenario.model_validate(dbn_feedforward_doc(self.model_dump(mode="json")))

    def memory(self) -> list[tuple[float, str, str]]:
        rows, d, k = data_shape(self.data)
        widths = [d, *self.network.hidden, k]
        batch = rows if self.training.batch_size == "full" else min(self.training.batch_size, rows)
        return [
            *rbm_layers_memory(d, list(self.network.hidden), rows, self.pretraining.batch_size, "network.hidden"),
            *dense_memory(widths, rows, batch, "network.hidden"),
        ]
