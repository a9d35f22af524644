"""Property tests over every public config of the wireless and MAX-SAT-service simulators and their experiments.

For each field: any value of a wrong type, NaN, an inf where none is allowed, or a number out of the field's range
raises a ValueError that names the field; any value at all raises nothing but a ValueError; small valid runs end
within a per-example deadline (nothing loops without bound).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from experiments.maxsat_service import MaxSatServiceConfig
from experiments.wireless_routing import WirelessConfig
from simulators import wireless as W
from simulators import workloads as Q
from simulators.workloads.config import MAX_ESCALATIONS, MAX_JOBS, MAX_WORKERS

INF = math.inf


def INT(lo=None, hi=None, optional=False):
    return ("int", lo, hi, optional)


def REAL(lo=None, hi=None, lo_open=False, hi_open=False, allow_inf=False, optional=False):
    return ("real", lo, hi, lo_open, hi_open, allow_inf, optional)


BOOL = ("bool",)


def CHOICE(*values):
    return ("choice", values)


def STR(nonempty=True, optional=False):
    return ("str", nonempty, optional)


POS = REAL(0.0, lo_open=True)
NONNEG = REAL(0.0)

#: (config class, field, what the field allows). Fields not listed (graphs, tuples, nested configs, policies)
#: are covered by the any-value property only.
SPECS = {
    W.SimConfig: {
        "n": INT(2, W.graphs.MAX_NODES),
        "rho": POS,
        "graph_seed": INT(0, optional=True),
        "radius_m": POS,
        "rate": POS,
        "duration": POS,
        "packet_bits": INT(1),
        "bitrate": POS,
        "loss_prob": REAL(0.0, 1.0, hi_open=True),
        "max_retries": INT(0, 100),
        "queue_capacity": INT(1),
        "initial_energy_j": REAL(0.0, lo_open=True, allow_inf=True),
        "ttl": INT(1, optional=True),
        "record_paths": BOOL,
    },
    W.TrainConfig: {
        "kind": CHOICE("linear", "mlp"),
        "hidden": INT(1, 4096),
        "optimizer": CHOICE("polystep", "openai_es", "cmaes"),
        "budget": INT(1),
        "pairs_per_step": INT(1),
        "delivery_weight": NONNEG,
        "stretch_weight": NONNEG,
        "stretch_cap": REAL(1.0),
        "init_scale": NONNEG,
        "select_every": INT(1),
        "polystep_epsilon": POS,
        "polystep_radius": POS,
        "es_population": INT(2),
        "es_sigma": POS,
        "es_learning_rate": POS,
        "cmaes_sigma": POS,
    },
    W.SupervisedConfig: {
        "kind": CHOICE("linear", "mlp"),
        "hidden": INT(1, 4096),
        "pairs": INT(1),
        "steps": INT(1),
        "learning_rate": POS,
    },
    Q.JobClass: {
        "name": STR(),
        "share": POS,
        "n_min": INT(1),
        "n_max": INT(50),
        "alpha": REAL(0.0, 1000.0, lo_open=True),
        "k": INT(1, 50),
        "weighted": BOOL,
        "max_weight": INT(1),
        "hard_fraction": REAL(0.0, 1.0, hi_open=True),
        "deadline": REAL(0.0, lo_open=True, allow_inf=True),
        "quality_target": REAL(0.0, 1.0, lo_open=True),
        "optimum": BOOL,
    },
    Q.WorkloadConfig: {
        "arrivals": CHOICE("poisson", "onoff", "trace"),
        "rate": POS,
        "on_mean": POS,
        "off_mean": POS,
        "off_rate": NONNEG,
        "trace": STR(optional=True),
        "n_jobs": INT(1, MAX_JOBS, optional=True),
    },
    Q.WorkerConfig: {
        "name": STR(),
        "solver": STR(),
        "speed": POS,
        "cost_per_second": NONNEG,
        "time_limit": REAL(0.0, lo_open=True, allow_inf=True),
        "count": INT(1, MAX_WORKERS),
        "setup": NONNEG,
    },
    Q.PoolConfig: {
        "queueing": CHOICE("per_worker", "shared", "per_solver"),
        "max_queue": INT(0, optional=True),
    },
    Q.ServiceConfig: {
        "model": CHOICE("exponential", "profile"),
        "mean": POS,
        "size_exponent": REAL(-10.0, 10.0),
        "n_ref": POS,
        "profile_dir": STR(optional=True),
        "build_missing": BOOL,
        "profile_instances": INT(1, 1000),
        "profile_time_limit": REAL(0.0, 3600.0, lo_open=True),
    },
    Q.SimConfig: {
        "max_escalations": INT(0, MAX_ESCALATIONS),
        "deadline_policy": CHOICE("ignore", "drop", "truncate"),
        "horizon": REAL(0.0, lo_open=True, optional=True),
        "warmup": NONNEG,
    },
    WirelessConfig: {
        "graphs_per_cell": INT(1),
        "seed_n": INT(2, W.graphs.MAX_NODES),
        "seed_rho": POS,
        "budget": INT(1),
        "pairs_per_step": INT(1),
        "gfg_max_pairs": INT(1),
    },
    MaxSatServiceConfig: {
        "rate": POS,
        "policy": CHOICE("random", "round_robin", "jsq", "power_of_two", "size_aware", "cascade"),
        "n_jobs": INT(1, MAX_JOBS),
        "small_optimum": BOOL,
        "ls_workers": INT(0, MAX_WORKERS),
        "exact_workers": INT(0, MAX_WORKERS),
        "polystep_workers": INT(0, MAX_WORKERS),
        "polystep_speed": POS,
        "polystep_cost": NONNEG,
        "time_limit": REAL(0.0, lo_open=True, allow_inf=True),
        "cpu_setup": REAL(0.0, 0.5, hi_open=True),
        "gpu_setup": REAL(0.0, 0.5, hi_open=True),
        "size_threshold": INT(0),
        "max_escalations": INT(0, MAX_ESCALATIONS),
        "profile_instances": INT(1, 1000),
        "profile_time_limit": REAL(0.0, 3600.0, lo_open=True),
        "service": CHOICE("profile", "exponential"),
    },
}

CASES = [(cls, name, spec) for cls, fields in SPECS.items() for name, spec in fields.items()]
IDS = [f"{cls.__name__}.{name}" for cls, name, _ in CASES]

OTHER_TYPES = st.one_of(
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.just(object()),
    st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=10),
)


def bad_values(spec) -> st.SearchStrategy:
    """Values the field must refuse: wrong types, NaN, forbidden infs, numbers out of range."""
    kind = spec[0]
    none = [] if spec[-1] is True and kind in ("int", "real", "str") else [st.none()]
    if kind == "int":
        _, lo, hi, _ = spec
        out = [OTHER_TYPES, st.booleans(), st.floats(allow_nan=True, allow_infinity=True), *none]
        if lo is not None:
            out.append(st.integers(max_value=lo - 1))
        if hi is not None:
            out.append(st.integers(min_value=hi + 1))
        return st.one_of(out)
    if kind == "real":
        _, lo, hi, lo_open, hi_open, allow_inf, _ = spec
        out = [OTHER_TYPES, st.booleans(), st.just(math.nan), *none]
        if not allow_inf:
            out.append(st.sampled_from([INF, -INF]))
        elif lo is not None:
            out.append(st.just(-INF))
        if lo is not None:
            out.append(st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False, allow_infinity=False))
        if hi is not None:
            out.append(st.floats(min_value=hi, exclude_min=not hi_open, allow_nan=False, allow_infinity=False))
        return st.one_of(out)
    if kind == "bool":
        return st.one_of(OTHER_TYPES, st.integers(), st.floats(), st.none(), st.sampled_from(["false", "true", "0"]))
    if kind == "choice":
        return st.one_of(
            st.text(max_size=6).filter(lambda t: t not in spec[1]), st.integers(), st.none(), st.lists(st.text())
        )
    _, nonempty, optional = spec
    out = [st.integers(), st.floats(), st.lists(st.text(max_size=2), max_size=2), st.booleans(), *none]
    if nonempty:
        out.append(st.sampled_from(["", "   "]))
    return st.one_of(out)


ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=3)), max_size=3).map(tuple),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()),
)

FAST = settings(
    max_examples=12, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow], database=None
)


def field_named(message: str, field: str) -> bool:
    """The error starts with the field, possibly qualified (`JobClass('x').share: ...`)."""
    return message.startswith(field + ": ") or f".{field}: " in message


@pytest.mark.parametrize("cls, field, spec", CASES, ids=IDS)
@FAST
@given(data=st.data())
def test_a_bad_value_raises_a_value_error_naming_the_field(cls, field, spec, data):
    value = data.draw(bad_values(spec), label=field)
    with pytest.raises(ValueError) as err:
        cls(**{field: value})
    assert field_named(str(err.value), field), str(err.value)


ALL_FIELDS = [(cls, f.name) for cls in SPECS for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("cls, field", ALL_FIELDS, ids=[f"{c.__name__}.{f}" for c, f in ALL_FIELDS])
@FAST
@given(data=st.data())
def test_any_value_is_accepted_or_refused_with_a_value_error(cls, field, data):
    value = data.draw(ANY_VALUE, label=field)
    try:
        cls(**{field: value})
    except ValueError as err:
        assert str(err)  # a message, never empty


SIM = settings(max_examples=25, deadline=timedelta(seconds=20), suppress_health_check=list(HealthCheck), database=None)


@SIM
@given(
    n=st.integers(2, 30),
    rate=st.floats(1e-300, 200.0),
    duration=st.floats(1e-6, 3.0),
    bitrate=st.sampled_from([1e-300, 1.0, 250_000.0, 1e300]),
    loss=st.sampled_from([0.0, 0.5, 1.0 - 1e-9]),
    retries=st.integers(0, 100),
    energy=st.sampled_from([INF, 1e-300, 0.01, 1e300]),
    ttl=st.one_of(st.none(), st.integers(1, 10**9)),
    queue=st.integers(1, 10**9),
    policy=st.sampled_from(W.POLICY_NAMES),
)
def test_any_valid_small_wireless_run_ends_and_conserves_packets(
    n, rate, duration, bitrate, loss, retries, energy, ttl, queue, policy
):
    config = W.SimConfig(
        n=n,
        rho=3.0,
        rate=rate,
        duration=duration,
        bitrate=bitrate,
        loss_prob=loss,
        max_retries=retries,
        initial_energy_j=energy,
        ttl=ttl,
        queue_capacity=queue,
        policy=policy,
    )
    assert W.simulate(config, seed=0).conserved


@SIM
@given(
    arrivals=st.sampled_from(["poisson", "onoff"]),
    rate=st.floats(1e-3, 1e6),
    on_mean=st.floats(1e-3, 1e3),
    off_rate=st.sampled_from([0.0, 1.0, 1e3]),
    n_jobs=st.one_of(st.none(), st.integers(1, 200)),
    horizon=st.one_of(st.none(), st.floats(1e-3, 100.0)),
    mean=st.floats(1e-6, 10.0),
    size_exponent=st.floats(-10.0, 10.0),
    time_limit=st.sampled_from([INF, 1e-6, 1.0]),
    escalations=st.integers(0, 5),
    policy=st.sampled_from(list(Q.POLICIES)),
    deadline_policy=st.sampled_from(["ignore", "drop", "truncate"]),
)
def test_any_valid_small_service_run_ends_and_conserves_jobs(
    arrivals, rate, on_mean, off_rate, n_jobs, horizon, mean, size_exponent, time_limit, escalations, policy,
    deadline_policy,
):
    if n_jobs is None and horizon is None:
        n_jobs = 50
    if n_jobs is None and max(rate, off_rate) * horizon > 500:
        horizon = 500 / max(rate, off_rate)  # a few hundred jobs at most
    if arrivals == "onoff" and n_jobs is not None and horizon is None:
        assume(rate * on_mean + off_rate * 10.0 >= 0.05)  # a few thousand ON/OFF periods at most
    workload = Q.WorkloadConfig(
        arrivals=arrivals, rate=rate, on_mean=on_mean, off_rate=off_rate, n_jobs=n_jobs,
        mix=(Q.JobClass(name="a", n_min=3, n_max=2000, k=3, deadline=1.0),),
    )
    pool = Q.PoolConfig(workers=(Q.WorkerConfig(name="x", time_limit=time_limit, count=2), Q.WorkerConfig(name="y")))
    config = Q.SimConfig(
        workload=workload,
        pool=pool,
        service=Q.ServiceConfig(model="exponential", mean=mean, size_exponent=size_exponent, n_ref=100.0),
        policy=policy,
        max_escalations=escalations,
        deadline_policy=deadline_policy,
        horizon=horizon,
    )
    result = Q.simulate(config, 0)
    assert result.conserved() and math.isfinite(result.end_time)
