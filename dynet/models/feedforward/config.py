"""The scenario schema of feedforward networks: every table, its defaults and its checks, declared once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from dynet.config import ScenarioBase, Strict, check_schedule, data_shape, dense_memory
from dynet.train.init_params import PARAMS as INIT_PARAMS
from dynet.train.init_params import validate as validate_init
from dynet.train.optimizer_params import OptimizerConfig, SGDParams
from dynet.train.schedules import ConstantSchedule, ScheduleConfig


class _DataBase(Strict):
    validation: float = Field(0.2, ge=0, lt=1, description="Fraction of samples held out for validation.")
    test: float = Field(0.0, ge=0, lt=1, description="Fraction of samples held out for the test split.")
    standardize: bool = Field(True, description="Scale inputs by the training split's mean and std.")
    scale: float = Field(
        1.0,
        gt=0,
        description="Multiply the inputs by this first (1/16 maps the digits' "
        "0..16 to [0, 1]); the same in every run, unlike standardize.",
    )

    @model_validator(mode="after")
    def _fractions(self):
        if self.validation + self.test >= 1:
            raise ValueError("validation: validation + test must leave samples for training")
        return self


class XorData(_DataBase):
    """XOR of two bits (the truth table, or ``n_samples`` noisy copies of it)."""

    source: Literal["xor"]
    n_samples: int = Field(4, ge=4, le=1_000_000)
    noise: float = Field(0.0, ge=0)
    validation: float = Field(0.0, ge=0, lt=1)
    standardize: bool = False


class ParityData(_DataBase):
    """n-bit parity: every input once, or ``n_samples`` (noisy) copies."""

    source: Literal["parity"]
    n_bits: int = Field(3, ge=2, le=20)
    n_samples: int | None = Field(None, ge=4, le=1_000_000)
    noise: float = Field(0.0, ge=0)
    validation: float = Field(0.0, ge=0, lt=1)
    standardize: bool = False


class LinearData(_DataBase):
    """Regression data from y = 5 + 2 x1 - 3 x2 + eps, x ~ U(-1, 1)^2, eps ~ N(0, noise^2)."""

    source: Literal["linear"]
    n_samples: int = Field(200, ge=4, le=10_000_000)
    noise: float = Field(0.5, ge=0)
    standardize: bool = False


class BlobsData(_DataBase):
    source: Literal["blobs"]
    n_samples: int = Field(300, ge=4, le=10_000_000)
    n_classes: int = Field(3, ge=2, le=1000)
    n_features: int = Field(2, ge=1, le=10_000)
    spread: float = Field(1.0, gt=0)


class MoonsData(_DataBase):
    source: Literal["moons"]
    n_samples: int = Field(300, ge=4, le=10_000_000)
    noise: float = Field(0.1, ge=0)


class SpiralsData(_DataBase):
    source: Literal["spirals"]
    n_samples: int = Field(300, ge=4, le=10_000_000)
    n_classes: int = Field(2, ge=2, le=100)
    turns: float = Field(1.5, gt=0)
    noise: float = Field(0.05, ge=0)


class BundledData(_DataBase):
    """Datasets shipped with dynet: iris (150 x 4, 3 classes), digits (1797 x 64, 10 classes)."""

    source: Literal["iris", "digits"]


class FileData(_DataBase):
    """User data: a .npz with arrays ``x_key`` (n, d) and ``y_key`` (n,) or (n, k), or a .csv
    of numbers whose last ``target_columns`` columns are the target."""

    source: Literal["file"]
    path: str = Field(description="Path to a .npz or .csv file, relative to the scenario file.")
    x_key: str = "x"
    y_key: str = "y"
    target_columns: int = Field(1, ge=1)
    task: Literal["classification", "regression"] = Field(
        "classification", description="Integer labels (classification) or real targets (regression)."
    )


FeedforwardData = Annotated[
    XorData | ParityData | LinearData | BlobsData | MoonsData | SpiralsData | BundledData | FileData,
    Field(discriminator="source"),
]


HIDDEN_ACTIVATIONS = ("identity", "step", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus")
LOSS_NAMES = ("mse", "bce_with_logits", "cross_entropy", "hinge", "multi_margin", "perceptron")


class FeedforwardNetwork(Strict):
    """Dense layers: ``kind = mlp`` with ``hidden`` sizes, an autoencoder (encoder ``hidden``
    down to the bottleneck, mirrored decoder), or a single neuron (logistic, linear
    regression, Rosenblatt perceptron)."""

    kind: Literal["mlp", "autoencoder", "logistic", "linear", "perceptron"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=list,
        description="Hidden layer sizes (mlp); an autoencoder's encoder down to the "
        "bottleneck ([32, 8]: 32 -> 8 -> 32 -> output).",
    )
    bottleneck: int | None = Field(
        None, ge=1, le=100_000, description="Autoencoder: the code size, appended to the encoder 'hidden'."
    )
    activation: Literal[HIDDEN_ACTIVATIONS] = Field("relu", description="Activation of every hidden layer.")
    activation_param: float | None = Field(
        None, description="negative_slope (leaky_relu), alpha (elu) or beta (softplus); PyTorch's default when omitted."
    )
    loss: Literal[LOSS_NAMES] | None = Field(
        None,
        description="Default: cross_entropy for classification "
        "(bce_with_logits for binary logistic), mse for regression, "
        "perceptron for the perceptron.",
    )

    @model_validator(mode="after")
    def _single_neuron(self):
        if self.kind not in ("mlp", "autoencoder") and self.hidden:
            raise ValueError(f"hidden: a {self.kind} model has no hidden layers (remove 'hidden' or use kind = 'mlp')")
        if self.bottleneck is not None and self.kind != "autoencoder":
            raise ValueError(f"bottleneck: only an autoencoder has one (kind = '{self.kind}')")
        if self.kind == "autoencoder" and not self.hidden and self.bottleneck is None:
            raise ValueError("hidden: an autoencoder needs its encoder sizes (hidden = [32, 8]) or a bottleneck")
        return self


def encoder_sizes(net: FeedforwardNetwork) -> list[int]:
    """An autoencoder's encoder: ``hidden`` followed by ``bottleneck`` when given."""
    return [*net.hidden, *([net.bottleneck] if net.bottleneck else [])]


def hidden_sizes(net: FeedforwardNetwork) -> list[int]:
    """Sizes of every hidden layer: ``hidden`` (mlp), the encoder and its mirror image without
    the bottleneck (autoencoder: [32, 8] gives [32, 8, 32]), none (single neurons)."""
    if net.kind == "mlp":
        return list(net.hidden)
    if net.kind == "autoencoder":
        enc = encoder_sizes(net)
        return enc + enc[-2::-1]
    return []


def layer_widths(net: FeedforwardNetwork, inputs: int, outputs: int) -> list[int]:
    """Widths of every layer from the inputs to the outputs for data of ``inputs`` columns and
    ``outputs`` classes or targets (an autoencoder's outputs are as wide as its inputs)."""
    return [inputs, *hidden_sizes(net), inputs if net.kind == "autoencoder" else outputs]


class FeedforwardTransfer(Strict):
    """Layers copied from a complete feedforward run of a store (weights, bias and batch norm),
    chosen by ``run`` (id or unique prefix) or by ``scenario`` (+ ``point``, ``replicate``)."""

    store: str | None = Field(
        None,
        description="The source store, relative to the scenario file; default: "
        "the store this run writes to (then checked when the run starts).",
    )
    run: str | None = Field(None, pattern=r"^[0-9a-f]+$", description="Source run id or a unique prefix of it.")
    scenario: str | None = Field(None, description="Source scenario name (with point and replicate).")
    point: dict[str, Any] = Field(
        default_factory=dict,
        description="Sweep parameters of the source run (dotted key -> value), when its scenario has a sweep.",
    )
    replicate: int = Field(0, ge=0, description="Replicate number of the source run.")
    layers: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, description="Source layer indices.")
    into: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="Destination layer of each source layer (default: the same indices)."
    )

    @model_validator(mode="after")
    def _source(self):
        if (self.run is None) == (self.scenario is None):
            raise ValueError("init.transfer: name the source run by 'run' or by 'scenario' (one of them)")
        if self.run is not None and (self.point or self.replicate):
            raise ValueError(
                "init.transfer.run: 'point' and 'replicate' select among a scenario's runs; a run id needs neither"
            )
        if self.into is not None and len(self.into) != len(self.layers):
            raise ValueError(f"init.transfer.into: {len(self.into)} destinations for {len(self.layers)} layers")
        dest = self.into if self.into is not None else self.layers
        if len(set(dest)) != len(dest):
            raise ValueError(f"init.transfer.into: a destination layer appears twice ({dest})")
        return self


class FeedforwardInit(Strict):
    weights: Literal[tuple(INIT_PARAMS)] = Field(
        "glorot_uniform", description="Initializer name (dynet.train.initializers)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Initializer parameters (those of the "
        "initializer named by weights); Glorot's gain defaults to the hidden "
        "activation's recommended gain (dynet.train.initializers.PARAMS).",
        json_schema_extra={"anyOf": [c.model_json_schema() for c in dict.fromkeys(INIT_PARAMS.values())]},
    )
    bias: float = Field(0.0, description="Constant initial bias.")
    transfer: FeedforwardTransfer | None = Field(None, description="Initialize chosen layers from another run.")

    @model_validator(mode="after")
    def _known(self):
        found = validate_init(self.weights, self.params)
        if found:
            raise ValueError("; ".join("params." + p for p in found))
        return self


#: The ``[optimizer]`` table: one of dynet.train.optimizers.OPTIMIZERS by ``name`` (default sgd).
FeedforwardOptimizer = OptimizerConfig
#: The ``[schedule]`` table: one of dynet.train.schedules.SCHEDULES by ``name`` (default constant).
FeedforwardSchedule = ScheduleConfig


class FeedforwardTraining(Strict):
    epochs: int = Field(20, ge=1, le=1_000_000)
    batch_size: int | Literal["full"] = Field(32, description="Rows per step; 'full' for full-batch gradient descent.")
    sampling: Literal["permutation", "replacement"] = Field(
        "permutation", description="A fresh permutation per epoch, or uniform draws with replacement."
    )
    clip_norm: float = Field(0.0, ge=0, description="Clip the global gradient norm (0: off).")
    clip_value: float = Field(0.0, ge=0, description="Clip every gradient element (0: off).")
    freeze: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list,
        description="Layers (0 = the first) that training never changes (weights, bias, batch norm).",
    )

    @model_validator(mode="after")
    def _batch(self):
        if isinstance(self.batch_size, int) and self.batch_size < 1:
            raise ValueError("batch_size: must be >= 1 or 'full'")
        return self


class FeedforwardRegularization(Strict):
    l1: float = Field(0.0, ge=0, description="L1 penalty on weights (not biases).")
    l2: float = Field(0.0, ge=0, description="L2 penalty l2/2 * ||W||^2 on weights (not biases).")
    dropout: float | list[float] = Field(
        0.0, description="Drop probability after each hidden layer (one value for all, or one per hidden layer)."
    )
    dropout_mode: Literal["inverted", "classic"] = "inverted"
    batch_norm: bool | list[bool] = Field(
        False,
        description="Batch normalization between each hidden layer's "
        "linear part and its activation (one value for all, or one per "
        "hidden layer).",
    )
    batch_norm_momentum: float = Field(
        0.1,
        ge=0,
        le=1,
        description="PyTorch's momentum of the running statistics: running = (1 - momentum) running + momentum batch.",
    )
    batch_norm_eps: float = Field(1e-5, gt=0, description="Added to the variance before its square root.")

    @model_validator(mode="after")
    def _dropout(self):
        values = self.dropout if isinstance(self.dropout, list) else [self.dropout]
        for p in values:
            if not 0 <= p < 1:
                raise ValueError(f"dropout: must be in [0, 1) (got {p})")
        return self


class EarlyStopping(Strict):
    patience: int = Field(10, ge=1, description="Epochs without improvement of the validation loss.")
    min_delta: float = Field(0.0, ge=0, description="Smallest decrease that counts as improvement.")
    restore_best: bool = Field(True, description="End with the weights of the best epoch.")


class FeedforwardRecord(Strict):
    per_step: bool = Field(False, description="Also record the loss and learning rate of every step.")
    snapshot_every: int = Field(0, ge=0, description="Store all weights every k epochs (0: only initial, best, final).")
    checkpoint_every: int = Field(
        0,
        ge=0,
        description="Save a checkpoint every k epochs (0: by time only). A run "
        "stopped mid-training resumes from its last checkpoint, bit-identical.",
    )
    checkpoint_seconds: float = Field(
        60.0,
        ge=0,
        description="Also save one when this much training time has passed since the last (0: never by time).",
    )


class FeedforwardScenario(ScenarioBase):
    """A feedforward network trained by backpropagation."""

    model: Literal["feedforward"]
    data: FeedforwardData
    network: FeedforwardNetwork = Field(default_factory=FeedforwardNetwork)
    init: FeedforwardInit = Field(default_factory=FeedforwardInit)
    optimizer: FeedforwardOptimizer = Field(
        default_factory=lambda: SGDParams(lr=0.01),
        description="The optimizer (name) and its hyper-parameters, with PyTorch's names and defaults.",
    )
    schedule: FeedforwardSchedule = Field(
        default_factory=ConstantSchedule,
        description="Learning-rate schedule (name) "
        "and its parameters (dynet.train.schedules); lr defaults to the optimizer's.",
    )
    training: FeedforwardTraining = Field(default_factory=FeedforwardTraining)
    regularization: FeedforwardRegularization = Field(default_factory=FeedforwardRegularization)
    early_stopping: EarlyStopping | None = None
    record: FeedforwardRecord = Field(default_factory=FeedforwardRecord)

    @model_validator(mode="after")
    def _consistent(self):
        n_hidden = len(hidden_sizes(self.network))
        reg = self.regularization
        for key in ("dropout", "batch_norm"):
            value = getattr(reg, key)
            if isinstance(value, list) and len(value) != n_hidden:
                raise ValueError(f"regularization.{key}: lists {len(value)} values for {n_hidden} hidden layers")
        if reg.batch_norm is True and n_hidden == 0:
            raise ValueError(
                f"regularization.batch_norm: a {self.network.kind} network has no hidden layer to normalize"
            )
        bn_any = any(reg.batch_norm) if isinstance(reg.batch_norm, list) else reg.batch_norm
        if bn_any and self.training.batch_size == 1:
            raise ValueError("training.batch_size: batch norm needs at least 2 rows per batch")
        n_layers = n_hidden + 1
        tr = self.init.transfer
        dest = (
            []
            if tr is None
            else [("init.transfer.into", tr.into)]
            if tr.into
            else [("init.transfer.layers", tr.layers)]
        )
        for key, layers in [("training.freeze", self.training.freeze), *dest]:
            bad = [l for l in layers if l >= n_layers]
            if bad:
                raise ValueError(f"{key}: layer {bad[0]} does not exist (the network has layers 0..{n_layers - 1})")
        if self.early_stopping is not None and self.data.validation == 0:
            raise ValueError("early_stopping: needs a validation split (data.validation > 0)")
        sched = check_schedule(self.schedule, self.optimizer.resolved()["lr"])
        if sched["name"] == "plateau" and self.data.validation == 0:
            raise ValueError("schedule.name: 'plateau' watches the validation loss: needs data.validation > 0")
        return self

    def memory(self) -> list[tuple[float, str, str]]:
        shape = data_shape(self.data)
        if shape is None:
            return []
        rows, d, k = shape
        widths = layer_widths(self.network, d, k)
        batch = rows if self.training.batch_size == "full" else min(self.training.batch_size, rows)
        return [
            (24 * rows * (d + k), "data", f"{rows:,} rows of {d} inputs"),
            *dense_memory(widths, rows, batch, "network.hidden"),
        ]
