"""The 2D Ising kernels against a plain-Python reference, exact enumeration and Onsager."""

import itertools
import math

import numpy as np
import pytest
from conftest import MemoryRecord
from hopfield_reference import Xoshiro256ss

from dynet.kernels.rng import seed_state
from dynet.models.ising import driver as M
from dynet.models.ising import kernels as K
from dynet.scenario import ScenarioError, parse_scenario


def reference_sweeps(spins, algorithm, beta, coupling, field, n_sweeps, rng):
    """Literal checkerboard sweeps: even sublattice then odd, row by row; one draw per visit."""
    spins = spins.astype(int).copy()
    n = spins.shape[0]
    for _ in range(n_sweeps):
        for colour in range(2):
            for i in range(n):
                for j in range((i + colour) % 2, n, 2):
                    s = spins[i, j]
                    nn = spins[(i - 1) % n, j] + spins[(i + 1) % n, j] + spins[i, (j - 1) % n] + spins[i, (j + 1) % n]
                    u = rng.next_double()
                    local = coupling * nn + field
                    if algorithm == K.METROPOLIS:
                        if u < min(1.0, math.exp(-beta * 2 * s * local)):
                            spins[i, j] = -s
                    else:
                        spins[i, j] = 1 if u < 1.0 / (1.0 + math.exp(-2.0 * beta * local)) else -1
    return spins


def run_kernel(spins, algorithm, temperature, coupling, field, n_sweeps, every, state):
    thr = K.threshold_table(K.acceptance_table(algorithm, 1.0 / temperature, coupling, field))
    m, b = K.sums(spins)
    out_m = np.empty(n_sweeps // every + 1, np.int64)
    out_b = np.empty(n_sweeps // every + 1, np.int64)
    m, b, k = K.sweeps(spins, thr, algorithm, n_sweeps, every, state, m, b, out_m, out_b, 0)
    return m, b, out_m[:k], out_b[:k]


@pytest.mark.parametrize("algorithm", [K.METROPOLIS, K.HEAT_BATH])
@pytest.mark.parametrize("temperature,field", [(1.5, 0.0), (2.4, 0.3), (4.0, -0.7)])
def test_kernel_matches_reference(algorithm, temperature, field):
    rng = np.random.default_rng(3)
    spins = np.where(rng.random((6, 6)) < 0.5, 1, -1).astype(np.int8)
    state = seed_state(np.random.SeedSequence(8))
    ref = reference_sweeps(spins, algorithm, 1.0 / temperature, 1.0, field, 7, Xoshiro256ss(state))
    m, b, _, _ = run_kernel(spins, algorithm, temperature, 1.0, field, 7, 1, state)
    np.testing.assert_array_equal(spins, ref)
    assert (m, b) == K.sums(spins)  # the incrementally kept sums stay exact


def test_threshold_table_is_exact():
    table = K.acceptance_table(K.METROPOLIS, 0.44, 1.0, 0.1)
    thr = K.threshold_table(table)
    for p, t in zip(table.ravel(), thr):
        t = int(t)
        # u = k 2^-53 < p  <=>  k < t
        assert (t - 1) * 2.0**-53 < p or p == 0
        assert t * 2.0**-53 >= p


def exact_4x4(temperature, coupling, field):
    """Exact <m>, <|m|>, <e> per spin of a 4x4 periodic lattice by enumerating 2^16 states."""
    n = 4
    ms, es = [], []
    for bits in itertools.product((-1, 1), repeat=n * n):
        s = np.array(bits).reshape(n, n)
        m = s.sum()
        b = (s * np.roll(s, 1, 0)).sum() + (s * np.roll(s, 1, 1)).sum()
        e = -(coupling * b + field * m)
        ms.append(m)
        es.append(e)
    ms = np.array(ms, float)
    es = np.array(es, float)
    w = np.exp(-(es - es.min()) / temperature)
    w /= w.sum()
    return (w @ ms) / 16, (w @ np.abs(ms)) / 16, (w @ es) / 16, w, es


@pytest.mark.parametrize("algorithm", [K.METROPOLIS, K.HEAT_BATH])
def test_sampler_matches_exact_enumeration(algorithm):
    temperature, field = 2.5, 0.2
    m_ex, am_ex, e_ex, w, es = exact_4x4(temperature, 1.0, field)
    spins = np.ones((4, 4), np.int8)
    state = seed_state(np.random.SeedSequence(21))
    run_kernel(spins, algorithm, temperature, 1.0, field, 2000, 2000, state)  # thermalize
    _, _, rec_m, rec_b = run_kernel(spins, algorithm, temperature, 1.0, field, 400_000, 10, state)
    m = rec_m / 16
    e = -(rec_b + field * rec_m) / 16
    # compare means within 5 block standard errors (20 blocks, correlation-robust)
    for series, exact in ((m, m_ex), (np.abs(m), am_ex), (e, e_ex)):
        blocks = series[: len(series) // 20 * 20].reshape(20, -1).mean(axis=1)
        sem = blocks.std(ddof=1) / math.sqrt(20)
        assert abs(series.mean() - exact) < 5 * sem + 1e-12, (series.mean(), exact, sem)
        assert sem < 0.01  # the check has teeth
    # the energy histogram against the exact distribution of energy levels
    levels = np.unique(np.round(es, 9))
    p_exact = np.array([w[np.isclose(es, lv)].sum() for lv in levels])
    counts = np.array([np.isclose(e * 16, lv).sum() for lv in levels])
    assert counts.sum() == len(e)
    frequent = p_exact > 0.01
    np.testing.assert_allclose(counts[frequent] / len(e), p_exact[frequent], atol=0.01)


def test_onsager_functions():
    assert M.T_C == pytest.approx(2.269185314213022, rel=1e-12)
    assert M.onsager_magnetization(M.T_C + 0.01) == 0.0
    assert M.onsager_magnetization(1.0) == pytest.approx(0.99927, abs=1e-5)
    # at T_c the energy per spin is -sqrt(2) J
    assert M.onsager_energy(M.T_C + 1e-9) == pytest.approx(-math.sqrt(2), abs=2e-3)
    # high-temperature expansion: u ~ -2 tanh(beta) for small beta
    assert M.onsager_energy(50.0) == pytest.approx(-2 * math.tanh(1 / 50.0), rel=1e-3)


def ising_doc(**over):
    doc = {
        "name": "i",
        "model": "ising",
        "seed": 4,
        "lattice": {"size": 32},
        "dynamics": {"temperature": 2.0, "thermalize": 2000, "sweeps": 20000},
        "record": {"every": 5},
    }
    for k, v in over.items():
        doc[k] = {**doc.get(k, {}), **v}
    return doc


@pytest.mark.parametrize("temperature", [1.8, 2.1])
def test_onsager_magnetization_and_energy_below_tc(temperature):
    spec = parse_scenario(ising_doc(dynamics={"temperature": temperature})).runs[0]
    metrics = M.run(spec, MemoryRecord())
    exact_m = M.onsager_magnetization(temperature)
    exact_e = M.onsager_energy(temperature)
    # finite-size corrections at L = 32 are far below 1% this far from T_c
    assert abs(metrics["abs_magnetization"] - exact_m) < max(0.01 * exact_m, 5 * metrics["abs_magnetization_err"])
    assert abs(metrics["energy"] - exact_e) < max(0.005 * abs(exact_e), 5 * metrics["energy_err"])
    assert metrics["exact_abs_magnetization"] == exact_m


def test_binder_cumulant_limits():
    low = M.run(parse_scenario(ising_doc(dynamics={"temperature": 1.5}, lattice={"size": 16})).runs[0], MemoryRecord())
    high = M.run(parse_scenario(ising_doc(dynamics={"temperature": 5.0}, lattice={"size": 16})).runs[0], MemoryRecord())
    assert low["binder"] == pytest.approx(2 / 3, abs=0.005)  # ordered: m^4 = (m^2)^2
    assert abs(high["binder"]) < 0.1  # Gaussian m: <m^4> = 3 <m^2>^2


def test_same_seed_same_chain_and_recorded_arrays():
    spec = parse_scenario(ising_doc(record={"every": 5, "snapshot_every": 5000})).runs[0]
    a, b = MemoryRecord(), MemoryRecord()
    ma = M.run(spec, a)
    mb = M.run(spec, b)
    assert ma == mb
    for k in a.columns:
        np.testing.assert_array_equal(np.concatenate(a.columns[k]), np.concatenate(b.columns[k]))
    sweeps = np.concatenate(a.columns["sweep"])
    assert sweeps[0] == 5 and sweeps[-1] == 20000 and len(sweeps) == 4000
    assert np.concatenate(a.columns["snapshot_sweep"]).tolist() == [5000, 10000, 15000, 20000]
    lattices = np.concatenate(a.columns["lattice"])
    np.testing.assert_array_equal(lattices[-1], a.static_arrays["final_lattice"])
    m = np.concatenate(a.columns["magnetization"])
    assert m[-1] == a.static_arrays["final_lattice"].mean()


@pytest.mark.parametrize(
    "over,message",
    [
        ({"lattice": {"size": 33}}, "lattice.size: 33 is odd"),
        ({"dynamics": {"temperature": 0.0}}, "dynamics.temperature"),
        ({"dynamics": {"temperature": -1.0}}, "greater than 0"),
        ({"dynamics": {"algoritm": "metropolis"}}, "did you mean 'algorithm'"),
        ({"record": {"blocks": 50, "every": 1000}}, "record.blocks: 50 needs at least"),
    ],
)
def test_bad_settings_are_rejected(over, message):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(ising_doc(**over), "i.toml")
    assert message in str(info.value)


def test_binder_crossing_from_a_stored_sweep(tmp_path, write_scenario):
    from dynet import analysis, api

    path = write_scenario("""
        name = "binder"
        model = "ising"
        seed = 12
        [dynamics]
        temperature = 2.2
        thermalize = 2000
        sweeps = 40000
        [record]
        every = 10
        [sweep]
        replicates = 1
        grid = { "lattice.size" = [8, 16], "dynamics.temperature" = [2.1, 2.2, 2.3, 2.4] }
        """)
    store = tmp_path / "s.zarr"
    report = api.run_scenario(path, store=store, workers=1)
    assert not report.failed and len(report.results) == 8
    (cross,) = analysis.binder_crossings(store, "binder")
    assert cross["sizes"] == (8, 16)
    # the L = 8 / 16 crossing sits within a few hundredths of T_c (finite-size shift and noise)
    assert abs(cross["t_cross"] - M.T_C) < 0.08, cross
    assert 0.55 < cross["binder"] < 0.67  # U* ~ 0.61 for the 2D Ising universality class
    rows = analysis.sweep_table(store, "binder", ("binder",))
    assert len(rows) == 8 and all(r["replicates"] == 1 for r in rows)
