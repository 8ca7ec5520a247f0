"""Documents that exercise every optimizer, schedule and initializer hyper-parameter, set and unset,
given as ints and as floats: tests/test_hyper_ids.py checks that their run ids and resolved configs
stay what the release before typed hyper-parameters gave (tests/data/hyper_ids.json)."""

import copy
import glob
import itertools
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(os.path.dirname(HERE), "scenarios")

# name -> {parameter: (an int value, a float value)} (valid values; None: no int form)
OPTIMIZERS = {
    "sgd": {
        "lr": (1, 0.05),
        "momentum": (0, 0.9),
        "dampening": (0, 0.0),
        "weight_decay": (0, 1e-4),
        "nesterov": (None, True),
    },
    "adagrad": {
        "lr": (1, 0.02),
        "lr_decay": (0, 0.01),
        "weight_decay": (0, 1e-3),
        "initial_accumulator_value": (1, 0.1),
        "eps": (1, 1e-9),
    },
    "adadelta": {"lr": (1, 0.5), "rho": (1, 0.95), "eps": (1, 1e-5), "weight_decay": (0, 0.001)},
    "rmsprop": {
        "lr": (1, 0.001),
        "alpha": (1, 0.9),
        "eps": (1, 1e-7),
        "weight_decay": (0, 0.01),
        "momentum": (0, 0.5),
        "centered": (None, True),
    },
    "adam": {
        "lr": (1, 0.003),
        "betas": ([0, 0], [0.8, 0.99]),
        "eps": (1, 1e-7),
        "weight_decay": (0, 0.01),
        "amsgrad": (None, True),
    },
    "adamw": {
        "lr": (1, 0.003),
        "betas": ([0, 0], [0.85, 0.995]),
        "eps": (1, 1e-6),
        "weight_decay": (0, 0.05),
        "amsgrad": (None, True),
    },
}

SCHEDULES = {
    "constant": {"lr": (1, 0.02)},
    "inverse_time": {"lr": (1, 0.02), "decay": (1, 0.5)},
    "min": {"lr": (1, 0.02), "c": (2, 0.5)},
    "step": {"lr": (1, 0.02), "step_size": (5, None), "gamma": (1, 0.5)},
    "multistep": {"lr": (1, 0.02), "milestones": ([2, 5], None), "gamma": (1, 0.5)},
    "exponential": {"lr": (1, 0.02), "gamma": (1, 0.95)},
    "cosine": {"lr": (1, 0.02), "T_max": (10, None), "eta_min": (0, 0.001)},
    "cosine_restarts": {"lr": (1, 0.02), "T_0": (5, None), "T_mult": (2, None), "eta_min": (0, 0.001)},
    "cyclic": {
        "base_lr": (1, 0.001),
        "max_lr": (2, 0.1),
        "step_size_up": (4, None),
        "step_size_down": (3, None),
        "mode": ("triangular2", "exp_range"),
        "gamma": (1, 0.9),
    },
    "onecycle": {
        "max_lr": (1, 0.1),
        "total_steps": (1000, None),
        "pct_start": (0, 0.25),
        "anneal_strategy": ("linear", "cos"),
        "div_factor": (10, 20.0),
        "final_div_factor": (100, 1e3),
        "three_phase": (None, True),
    },
    "plateau": {
        "lr": (1, 0.02),
        "mode": ("max", "min"),
        "factor": (None, 0.5),
        "patience": (3, None),
        "threshold": (0, 1e-3),
        "threshold_mode": ("abs", "rel"),
        "cooldown": (2, None),
        "min_lr": (0, 1e-5),
        "eps": (0, 1e-9),
    },
}
WARMUP = {"warmup_steps": (3, None), "warmup_start_factor": (1, 0.5)}

INITIALIZERS = {
    "zeros": {},
    "constant": {"value": (1, 0.5)},
    "uniform": {"a": (-1, -0.5), "b": (1, 0.5)},
    "normal": {"mean": (0, 0.5), "std": (1, 0.1)},
    "glorot_uniform": {"gain": (2, 1.5)},
    "glorot_normal": {"gain": (2, 1.5)},
    "xavier_uniform": {"gain": (2, 1.5)},
    "xavier_normal": {"gain": (2, 1.5)},
    "he_uniform": {"a": (0, 0.1), "mode": ("fan_out", "fan_in"), "nonlinearity": ("relu", "tanh")},
    "he_normal": {"a": (0, 0.1), "mode": ("fan_out", "fan_in"), "nonlinearity": ("relu", "tanh")},
    "kaiming_uniform": {"a": (0, 0.1), "mode": ("fan_out", "fan_in"), "nonlinearity": ("relu", "tanh")},
    "kaiming_normal": {"a": (0, 0.1), "mode": ("fan_out", "fan_in"), "nonlinearity": ("relu", "tanh")},
    "lecun_uniform": {},
    "lecun_normal": {},
}

FF = {
    "name": "gen",
    "model": "feedforward",
    "seed": 1,
    "data": {"source": "xor", "validation": 0.25},
    "network": {"kind": "mlp", "hidden": [4], "activation": "tanh"},
    "training": {"epochs": 2, "batch_size": 2},
}
RBM = {
    "name": "gen",
    "model": "rbm",
    "seed": 1,
    "data": {"source": "bars-stripes", "size": 3},
    "network": {"n_hidden": 4},
    "training": {"epochs": 10, "batch_size": 2, "lr": 0.05},
}


# parameters without a default (always given)
REQUIRED = {
    "sgd": ("lr",),
    "inverse_time": ("decay",),
    "min": ("c",),
    "step": ("step_size",),
    "multistep": ("milestones",),
    "exponential": ("gamma",),
    "cosine": ("T_max",),
    "cosine_restarts": ("T_0",),
    "cyclic": ("base_lr", "max_lr"),
    "onecycle": ("max_lr", "total_steps"),
}


def _pick(pair, which):
    return pair[which] if pair[which] is not None else pair[1 - which]


def _variants(table: dict, required: tuple = ()) -> list[dict]:
    """Each parameter unset, as an int, as a float (one at a time), then all as ints, all as floats;
    the required ones always set."""
    base = {k: _pick(table[k], 1) for k in required}
    out = [base]
    for key, (i, f) in table.items():
        out += [{**base, key: v} for v in (i, f) if v is not None]
    for which in (0, 1):
        out.append({k: _pick(v, which) for k, v in table.items()})
    return out


def _with(base: dict, **tables) -> dict:
    doc = copy.deepcopy(base)
    doc.update(tables)
    return doc


def generated() -> list[dict]:
    docs = []
    for name, table in OPTIMIZERS.items():
        for params in _variants(table, REQUIRED.get(name, ())):
            docs.append(_with(FF, optimizer={"name": name, **params}))
    docs.append(_with(FF, optimizer={"lr": 0.1}))
    docs.append(_with(FF, optimizer={"name": "sgd"}))  # lr required: an error
    for name, table in SCHEDULES.items():
        tables = [table] if name == "plateau" else [table, WARMUP]
        for tab, per in itertools.product(tables, ("epoch", "step")):
            for params in _variants(tab, REQUIRED.get(name, ()) if tab is table else ()):
                params = params if tab is table else {**_variants(table, REQUIRED.get(name, ()))[0], **params}
                docs.append(_with(FF, optimizer={"name": "adam"}, schedule={"name": name, "per": per, **params}))
                docs.append(_with(FF, optimizer={"name": "sgd", "lr": 1}, schedule={"name": name, **params}))
                if name != "plateau":
                    docs.append(_with(RBM, schedule={"name": name, "per": per, **params}))
    for name, table in INITIALIZERS.items():
        for params in _variants(table):
            docs.append(_with(FF, init={"weights": name, "params": params}))
    # a few mistakes: an unknown key, an out-of-range value, an unknown name
    docs += [
        _with(FF, optimizer={"name": "adam", "beta": [0.9, 0.99]}),
        _with(FF, optimizer={"name": "adam", "betas": [0.9, 1.0]}),
        _with(FF, optimizer={"name": "adma"}),
        _with(FF, optimizer={"name": "sgd", "lr": 0.1, "nesterov": True}),
        _with(FF, schedule={"name": "cosine"}),
        _with(FF, schedule={"name": "onecycle", "max_lr": 0.1, "total_steps": 10, "pct_start": 0.1}),
        _with(RBM, schedule={"name": "plateau"}),
        _with(FF, init={"weights": "uniform", "params": {"a": 1, "b": 0}}),
    ]
    return docs


def shipped() -> list[str]:
    return sorted(glob.glob(os.path.join(SCENARIOS, "*.toml")))


def _runs(sc) -> list:
    # a run id is a hash of the canonical resolved config: equal ids, equal configs. The first run's
    # config is kept too, to show what changed when an id does.
    return [sc.runs[0].config] + [[r.run_id, r.seed] for r in sc.runs]


def outcome(doc) -> list | str:
    """[first run's config, [run id, seed], ...] of a document (a dict, or a scenario file's path), or
    "error" when it does not validate."""
    from dynet import scenario as S
    from dynet.errors import ScenarioError

    try:
        sc = S.load_scenario(doc) if isinstance(doc, str) else S.parse_scenario(copy.deepcopy(doc))
    except ScenarioError:
        return "error"
    return _runs(sc)


def outcomes() -> dict:
    out = {os.path.basename(p): outcome(p) for p in shipped()}
    for k, doc in enumerate(generated()):
        out[f"gen{k:04d}"] = {"doc": doc, "runs": outcome(doc)}
    return out
