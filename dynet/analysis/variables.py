"""What the stored variables mean: CF-style ``long_name`` / ``units`` per variable name, and
which 1-D variables are coordinates of their dimension rather than data.

Energies, temperatures, losses and log-likelihoods are dimensionless (units of the coupling,
nats): their ``units`` is CF's ``"1"``. Counters and indices (sweep, epoch, unit states) carry a
``long_name`` only.
"""

from __future__ import annotations

import re

#: name -> (long_name, units or None)
VARIABLES: dict[str, tuple[str, str | None]] = {
    # time axes
    "sweep": ("Monte Carlo sweep", None),
    "epoch": ("training epoch", None),
    "step": ("optimizer step", None),
    "snapshot": ("epoch of the weight snapshot", None),
    "snapshot_sweep": ("sweep of the snapshot", None),
    "snapshot_epoch": ("epoch of the snapshot", None),
    "sample_step": ("Gibbs step of the sample", None),
    "sample_chain": ("sampling chain", None),
    "pretrain_layer": ("pretrained RBM layer", None),
    "pretrain_epoch": ("pretraining epoch", None),
    # dynamics (Hopfield, Ising, Boltzmann sampling)
    "energy": ("energy", "1"),
    "flips": ("units flipped since the previous record", None),
    "temperature": ("temperature", "1"),
    "temperatures": ("temperature ladder", "1"),
    "state": ("unit states", None),
    "overlap": ("overlap with the stored pattern", "1"),
    "patterns": ("stored patterns", None),
    "initial_state": ("initial unit states", None),
    "final_state": ("final unit states", None),
    "magnetization": ("magnetization per spin", "1"),
    "lattice": ("spin lattice", None),
    "initial_lattice": ("initial spin lattice", None),
    "final_lattice": ("final spin lattice", None),
    "mean_state": ("mean unit state", "1"),
    "swap_acceptance": ("replica-exchange acceptance rate", "1"),
    "swap_attempts": ("replica-exchange attempts", None),
    "swap_accepts": ("replica-exchange acceptances", None),
    "weights": ("weights", "1"),
    "initial_weights": ("initial weights", "1"),
    "snapshot_weights": ("weights at the snapshot", "1"),
    "bias": ("biases", "1"),
    "mask": ("coupling mask (1: coupled)", None),
    # generative training (Boltzmann, RBM, DBM)
    "lr": ("learning rate", "1"),
    "weight_norm": ("weight norm", "1"),
    "bias_norm": ("bias norm", "1"),
    "hidden_mean": ("mean hidden activation", "1"),
    "free_mean_state": ("mean state of the free chains", "1"),
    "train_recon_error": ("training reconstruction error", "1"),
    "val_recon_error": ("validation reconstruction error", "1"),
    "train_pseudo_likelihood": ("training pseudo-log-likelihood (nats)", "1"),
    "val_pseudo_likelihood": ("validation pseudo-log-likelihood (nats)", "1"),
    "train_free_energy": ("mean training free energy", "1"),
    "val_free_energy": ("mean validation free energy", "1"),
    "free_energy_gap": ("validation minus training free energy", "1"),
    "log_z": ("log partition function (exact)", "1"),
    "train_log_likelihood": ("training log-likelihood per example (nats)", "1"),
    "val_log_likelihood": ("validation log-likelihood per example (nats)", "1"),
    "log_z_ais": ("log partition function (AIS)", "1"),
    "log_z_ais_se": ("standard error of the AIS log partition function", "1"),
    "train_log_likelihood_ais": ("training log-likelihood per example (AIS, nats)", "1"),
    "val_log_likelihood_ais": ("validation log-likelihood per example (AIS, nats)", "1"),
    "w1_norm": ("norm of the first weight matrix", "1"),
    "w2_norm": ("norm of the second weight matrix", "1"),
    "mf_iterations": ("mean-field iterations", "1"),
    "h1_mean": ("mean first-hidden-layer activation", "1"),
    "h2_mean": ("mean second-hidden-layer activation", "1"),
    "train_lower_bound": ("training mean-field lower bound on the log-likelihood (nats)", "1"),
    "val_lower_bound": ("validation mean-field lower bound on the log-likelihood (nats)", "1"),
    "visible_bias": ("visible biases", "1"),
    "hidden_bias": ("hidden biases", "1"),
    "hidden1_bias": ("first-hidden-layer biases", "1"),
    "hidden2_bias": ("second-hidden-layer biases", "1"),
    "weights1": ("visible-to-first-hidden weights", "1"),
    "weights2": ("first-to-second-hidden weights", "1"),
    "initial_weights1": ("initial visible-to-first-hidden weights", "1"),
    "initial_weights2": ("initial first-to-second-hidden weights", "1"),
    "pretrain_error1": ("pretraining reconstruction error of the first RBM", "1"),
    "pretrain_error2": ("pretraining reconstruction error of the second RBM", "1"),
    "visible_sigma": ("visible standard deviations", "1"),
    "data_shift": ("data shift (subtracted before scaling)", "1"),
    "data_scale": ("data scale (divided after shifting)", "1"),
    "samples": ("sampled visible states", None),
    "sample_mean": ("visible probabilities of the sample", "1"),
    "validation_index": ("row of the validation example in the data", None),
    "image_shape": ("image shape of a visible vector", None),
    # feedforward
    "batch_loss": ("mean mini-batch loss over the epoch", "1"),
    "train_loss": ("training loss", "1"),
    "val_loss": ("validation loss", "1"),
    "test_loss": ("test loss", "1"),
    "train_metric": ("training accuracy or R2", "1"),
    "val_metric": ("validation accuracy or R2", "1"),
    "test_metric": ("test accuracy or R2", "1"),
    "grad_norm": ("gradient norm", "1"),
    "update_ratio": ("update-to-weight norm ratio", "1"),
    "act_mean": ("mean activation", "1"),
    "act_std": ("activation standard deviation", "1"),
    "dead_fraction": ("fraction of dead units", "1"),
    "step_loss": ("mini-batch loss", "1"),
    "step_lr": ("learning rate", "1"),
    "layer_sizes": ("layer sizes", None),
    "val_code": ("bottleneck code of the validation example", "1"),
    "val_label": ("label of the validation example", None),
    # final metrics of the sweep datasets (the models' headline metrics)
    "final_overlap": ("final overlap with the cued pattern", "1"),
    "max_abs_overlap": ("largest final overlap magnitude over the stored patterns", "1"),
    "recalled": ("cued pattern recalled (final overlap >= 0.9)", None),
    "spurious": ("ended in a spurious fixed point", None),
    "sweeps": ("sweeps run", None),
    "final_energy": ("final energy", "1"),
    "abs_magnetization": ("mean absolute magnetization per spin", "1"),
    "susceptibility": ("magnetic susceptibility per spin", "1"),
    "heat_capacity": ("heat capacity per spin", "1"),
    "binder": ("Binder cumulant", "1"),
    "epochs_run": ("epochs run", None),
    # multi-cue Hopfield runs: one entry per cue along ``cue``
    "cue": ("index of the cued pattern", None),
    "cue_final_overlap": ("final overlap with the cued pattern, per cue", "1"),
    "cue_recalled": ("cued pattern recalled (final overlap >= 0.9), per cue", None),
    "cue_sweeps": ("sweeps run, per cue", None),
    "recall_fraction": ("fraction of the cued patterns recalled", "1"),
    "mean_final_overlap": ("mean final overlap with the cued pattern over the cues", "1"),
}

#: (model, name) -> (long_name, units): where a model's variable means something more specific
MODEL_VARIABLES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("ising", "energy"): ("energy per spin", "1"),
    ("ising", "state"): ("spin lattice", None),
    ("boltzmann", "energy"): ("energy", "1"),
    ("hopfield", "weights"): ("effective weights (scale included)", "1"),
    ("dbn", "weight_norm"): ("weight norm", "1"),
    ("modern-hopfield", "step"): ("update step (0: the cue)", None),
    ("modern-hopfield", "state"): ("state xi", "1"),
    ("modern-hopfield", "cue"): ("initial state xi (the cue)", "1"),
    ("modern-hopfield", "final_state"): ("final state xi", "1"),
    ("modern-hopfield", "patterns"): ("stored patterns", "1"),
    ("modern-hopfield", "weights"): ("softmax weights p = softmax(beta X^T xi)", "1"),
    ("modern-hopfield", "max_weight"): ("largest softmax weight", "1"),
    ("modern-hopfield", "entropy"): ("entropy of the softmax weights", "1"),
    ("modern-hopfield", "distance_cued"): ("distance to the cued pattern", "1"),
    ("modern-hopfield", "distance_nearest"): ("distance to the nearest stored pattern", "1"),
    ("modern-hopfield", "nearest"): ("index of the nearest stored pattern", None),
    ("rnn", "grad_norm"): ("mean gradient norm of the epoch's updates (before clipping)", "1"),
    ("rnn", "train_accuracy"): ("training accuracy (adding: |error| <= 0.04)", "1"),
    ("rnn", "val_accuracy"): ("validation accuracy (adding: |error| <= 0.04)", "1"),
    ("rnn", "spectral_radius"): ("spectral radius of W_hh", "1"),
    ("rnn", "lag_grad_norm"): ("mean norm of dL/dh_t at lag T-1-t (loss of the last output)", "1"),
    ("rnn", "W_xh"): ("input-to-hidden weights", "1"),
    ("rnn", "W_hh"): ("recurrent weights", "1"),
    ("rnn", "W_hh_init"): ("initial recurrent weights", "1"),
    ("rnn", "b_h"): ("hidden biases", "1"),
    ("rnn", "W_hy"): ("hidden-to-output weights", "1"),
    ("rnn", "b_y"): ("output biases", "1"),
    ("graded-hopfield", "step"): ("accepted integration step (0: the cue)", None),
    ("graded-hopfield", "t"): ("time", "tau"),
    ("graded-hopfield", "dt"): ("size of the accepted step", "tau"),
    ("graded-hopfield", "speed"): ("largest |du/dt|", "1/tau"),
    ("graded-hopfield", "overlap"): ("overlap xi . V / N with the cued pattern", "1"),
    ("graded-hopfield", "state"): ("outputs V = tanh(gain u)", "1"),
    ("graded-hopfield", "initial_state"): ("initial outputs V (the cue)", "1"),
    ("graded-hopfield", "final_state"): ("final outputs V", "1"),
    ("graded-hopfield", "final_potential"): ("final potentials u", "1"),
}

_P = r"^(?P<prefix>initial_|last_|snapshot_)?"
_LAYERED = [
    (re.compile(_P + r"weight_(?P<l>\d+)$"), "weights of layer {l}"),
    (re.compile(_P + r"bias_(?P<l>\d+)$"), "biases of layer {l}"),
    (re.compile(_P + r"bn_gamma_(?P<l>\d+)$"), "batch-norm scale of layer {l}"),
    (re.compile(_P + r"bn_beta_(?P<l>\d+)$"), "batch-norm shift of layer {l}"),
    (re.compile(_P + r"bn_running_mean_(?P<l>\d+)$"), "batch-norm running mean of layer {l}"),
    (re.compile(_P + r"bn_running_var_(?P<l>\d+)$"), "batch-norm running variance of layer {l}"),
    (re.compile(r"^rbm_weight_(?P<l>\d+)$"), "weights of pretrained RBM {l}"),
    (re.compile(r"^rbm_visible_bias_(?P<l>\d+)$"), "visible biases of pretrained RBM {l}"),
    (re.compile(r"^rbm_hidden_bias_(?P<l>\d+)$"), "hidden biases of pretrained RBM {l}"),
    (re.compile(r"^pretrain_recon_error_(?P<l>\d+)$"), "final pretraining reconstruction error of RBM {l}"),
]
_PREFIXES = {"initial_": "initial ", "last_": "last-epoch ", "snapshot_": "snapshot of the "}


def describe(name: str, model: str | None = None) -> dict[str, str]:
    """CF-style ``{"long_name": ..., "units": ...}`` of a stored variable (empty when unknown)."""
    found = MODEL_VARIABLES.get((model, name)) or VARIABLES.get(name)
    if found is None:
        for pattern, text in _LAYERED:
            m = pattern.match(name)
            if m:
                prefix = m.groupdict().get("prefix")
                found = (_PREFIXES.get(prefix, "") + text.format(l=m.group("l")), "1")
                break
    if found is None and name.startswith("pretrain_") and name[len("pretrain_") :] in VARIABLES:
        inner = VARIABLES[name[len("pretrain_") :]]
        found = ("pretraining " + inner[0], inner[1])
    if found is None:
        return {}
    long_name, units = found
    return {"long_name": long_name, **({"units": units} if units else {})}


#: 1-D variables that label a dimension rather than hold data: name -> the dimension they label.
#: A variable named after its dimension (``sweep``, ``epoch``, ``step``, ``snapshot``) already is
#: that dimension's coordinate; ``temperatures`` becomes the ``temperature`` dimension's.
AUX_COORDS = {
    "temperature": ("sweep",),
    "snapshot_sweep": ("snapshot",),
    "snapshot_epoch": ("snapshot",),
    "sample_step": ("sample",),
    "sample_chain": ("sample",),
    "pretrain_layer": ("pretrain_record",),
    "pretrain_epoch": ("pretrain_record",),
    "val_label": ("val_sample",),
}
INDEX_COORDS = {"temperatures": "temperature"}

#: the time axes of trajectories, most telling first (a run's CSV export uses the first it has)
TIME_DIMS = ("sweep", "epoch", "pretrain_record", "step", "sample", "snapshot")
