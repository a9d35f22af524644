"""Validation of the workload / pool / service configs and of trace files: errors name the field or line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.workloads import (
    JobClass,
    PoolConfig,
    ServiceConfig,
    SimConfig,
    WorkerConfig,
    WorkloadConfig,
    simulate,
)
from simulators.workloads.arrivals import generate_jobs, read_trace


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: WorkloadConfig(arrivals="uniform"), "WorkloadConfig.arrivals"),
        (lambda: WorkloadConfig(rate=0.0), "WorkloadConfig.rate"),
        (lambda: WorkloadConfig(rate=math.inf), "WorkloadConfig.rate"),
        (lambda: WorkloadConfig(on_mean=-1.0), "WorkloadConfig.on_mean"),
        (lambda: WorkloadConfig(off_rate=-0.5), "WorkloadConfig.off_rate"),
        (lambda: WorkloadConfig(arrivals="trace"), "WorkloadConfig.trace"),
        (lambda: WorkloadConfig(n_jobs=0), "WorkloadConfig.n_jobs"),
        (lambda: WorkloadConfig(mix=()), "WorkloadConfig.mix"),
        (lambda: WorkloadConfig(mix=(JobClass(name="a"), JobClass(name="a"))), "WorkloadConfig.mix"),
        (lambda: JobClass(share=0.0), "JobClass('3sat').share"),
        (lambda: JobClass(n_min=0), "JobClass('3sat').n_min"),
        (lambda: JobClass(n_min=100, n_max=50), "JobClass('3sat').n_max"),
        (lambda: JobClass(alpha=-1.0), "JobClass('3sat').alpha"),
        (lambda: JobClass(k=0), "JobClass('3sat').k"),
        (lambda: JobClass(hard_fraction=1.0), "JobClass('3sat').hard_fraction"),
        (lambda: JobClass(deadline=0.0), "JobClass('3sat').deadline"),
        (lambda: JobClass(quality_target=1.5), "JobClass('3sat').quality_target"),
        (lambda: JobClass(quality_target=0.0), "JobClass('3sat').quality_target"),
        (lambda: WorkerConfig(speed=0.0), "WorkerConfig('w0').speed"),
        (lambda: WorkerConfig(cost_per_second=-1.0), "WorkerConfig('w0').cost_per_second"),
        (lambda: WorkerConfig(time_limit=0.0), "WorkerConfig('w0').time_limit"),
        (lambda: WorkerConfig(count=0), "WorkerConfig('w0').count"),
        (lambda: WorkerConfig(setup=-0.1), "WorkerConfig('w0').setup"),
        (lambda: WorkerConfig(setup=2.0, time_limit=1.0), "WorkerConfig('w0').setup"),
        (lambda: WorkerConfig(solver=""), "WorkerConfig('w0').solver"),
        (lambda: PoolConfig(workers=()), "PoolConfig.workers"),
        (lambda: PoolConfig(workers=(WorkerConfig(), WorkerConfig())), "PoolConfig.workers"),
        (lambda: PoolConfig(queueing="lifo"), "PoolConfig.queueing"),
        (lambda: PoolConfig(max_queue=-1), "PoolConfig.max_queue"),
        (lambda: ServiceConfig(model="gamma"), "ServiceConfig.model"),
        (lambda: ServiceConfig(mean=0.0), "ServiceConfig.mean"),
        (lambda: ServiceConfig(profile_sizes=(40, 20)), "ServiceConfig.profile_sizes"),
        (lambda: ServiceConfig(profile_sizes=()), "ServiceConfig.profile_sizes"),
        (lambda: ServiceConfig(profile_instances=0), "ServiceConfig.profile_instances"),
        (lambda: ServiceConfig(profile_time_limit=0.0), "ServiceConfig.profile_time_limit"),
        (lambda: SimConfig(policy="fastest"), "SimConfig.policy"),
        (lambda: SimConfig(policy=42), "SimConfig.policy"),
        (lambda: SimConfig(max_escalations=-1), "SimConfig.max_escalations"),
        (lambda: SimConfig(deadline_policy="never"), "SimConfig.deadline_policy"),
        (lambda: SimConfig(horizon=0.0), "SimConfig.horizon"),
        (lambda: SimConfig(horizon=10.0, warmup=20.0), "SimConfig.warmup"),
        (lambda: SimConfig(workload=WorkloadConfig(n_jobs=None)), "WorkloadConfig.n_jobs"),
        (lambda: SimConfig(workload="poisson"), "SimConfig.workload"),
    ],
)
def test_invalid_config_names_the_field(make, field):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value).startswith(field), str(err.value)


def test_invalid_policy_options_and_seed_are_reported():
    exp = ServiceConfig(model="exponential")
    with pytest.raises(ValueError, match="SimConfig.policy_options"):
        simulate(SimConfig(service=exp, policy="jsq", policy_options={"d": 3}), 0)
    with pytest.raises(ValueError, match="policy_options.d"):
        simulate(SimConfig(service=exp, policy="power_of_two", policy_options={"d": 0}), 0)
    with pytest.raises(ValueError, match="seed"):
        simulate(SimConfig(service=exp), -1)


def test_policy_returning_a_bad_index_is_reported():
    config = SimConfig(service=ServiceConfig(model="exponential"), policy=lambda job, workers, rng: 5)
    with pytest.raises(ValueError, match="SimConfig.policy: returned 5"):
        simulate(config, 0)


def test_expanded_pool_and_mean_rate():
    pool = PoolConfig(workers=(WorkerConfig(name="cpu", count=3), WorkerConfig(name="gpu", solver="polystep")))
    assert [w.name for w in pool.expanded()] == ["cpu.0", "cpu.1", "cpu.2", "gpu"]
    assert pool.solvers == ("probsat", "polystep")
    onoff = WorkloadConfig(arrivals="onoff", rate=4.0, on_mean=1.0, off_mean=3.0, off_rate=0.0)
    assert onoff.mean_rate == pytest.approx(1.0)


def test_onoff_arrivals_are_bursty_with_the_right_mean_rate():
    config = WorkloadConfig(arrivals="onoff", rate=10.0, on_mean=5.0, off_mean=15.0, n_jobs=20_000)
    jobs = generate_jobs(config, np.random.default_rng(0), np.random.default_rng(1))
    times = np.array([j.arrival for j in jobs])
    assert len(jobs) == 20_000 and np.all(np.diff(times) >= 0)
    rate = len(times) / times[-1]
    assert rate == pytest.approx(config.mean_rate, rel=0.1)
    counts = np.bincount(times.astype(int))
    # index of dispersion of counts per second: 1 for Poisson, far above for on/off
    assert counts.var() / counts.mean() > 5.0
    poisson = generate_jobs(WorkloadConfig(rate=2.5, n_jobs=20_000), np.random.default_rng(0), np.random.default_rng(1))
    pc = np.bincount(np.array([j.arrival for j in poisson]).astype(int))
    assert 0.8 < pc.var() / pc.mean() < 1.2


def test_job_sizes_follow_the_mix():
    mix = (
        JobClass(name="small", share=3.0, n_min=10, n_max=20),
        JobClass(name="big", share=1.0, n_min=1000, n_max=5000, quality_target=0.99),
    )
    jobs = generate_jobs(WorkloadConfig(n_jobs=4000, mix=mix), np.random.default_rng(0), np.random.default_rng(1))
    small = [j for j in jobs if j.kind == "small"]
    assert abs(len(small) / len(jobs) - 0.75) < 0.03
    assert all(10 <= j.n <= 20 for j in small)
    big = [j for j in jobs if j.kind == "big"]
    assert all(1000 <= j.n <= 5000 and j.target == 0.99 for j in big)
    # log-uniform: the median is near the geometric mean
    assert abs(np.median([j.n for j in big]) - math.sqrt(1000 * 5000)) < 300


def test_trace_file_is_read_and_simulated(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text(
        "# a comment\narrival,n,class,deadline,quality_target\n0.0,50,,,\n0.5,80,big,2.0,0.95\n"
        "0.5,30,,1.0,\n\n2.25,1000,big,,\n"
    )
    mix = (JobClass(name="small"), JobClass(name="big", n_min=100, n_max=1000, deadline=5.0))
    jobs = read_trace(path, mix)
    assert [(j.arrival, j.n, j.kind, j.deadline, j.target) for j in jobs] == [
        (0.0, 50, "small", math.inf, 1.0),
        (0.5, 80, "big", 2.0, 0.95),
        (0.5, 30, "small", 1.0, 1.0),
        (2.25, 1000, "big", 5.0, 1.0),
    ]
    config = SimConfig(
        workload=WorkloadConfig(arrivals="trace", trace=str(path), mix=mix),
        service=ServiceConfig(model="exponential", mean=0.1),
    )
    result = simulate(config, 0)
    assert [j.arrival for j in result.jobs] == [0.0, 0.5, 0.5, 2.25]
    assert result.summary.completed == 4


@pytest.mark.parametrize(
    "body, where, what",
    [
        ("arrival,n\n0,10\nx,20\n", ":3:", "column arrival"),
        ("arrival,n\n0,10\n1,-5\n", ":3:", "column n"),
        ("arrival,n\n1,10\n0.5,20\n", ":3:", "earlier than the previous"),
        ("arrival,n,colour\n0,10,red\n", ":1:", "unknown column"),
        ("arrival\n0\n", ":1:", "required column"),
        ("arrival,n\n0,10,3\n", ":2:", "expected 2 fields"),
        ("arrival,n,class\n0,10,huge\n", ":2:", "unknown class"),
        ("arrival,n,weighted\n0,10,maybe\n", ":2:", "column weighted"),
        ("arrival,n,quality_target\n0,10,1.5\n", ":2:", "column quality_target"),
        ("arrival,n,deadline\n0,10,0\n", ":2:", "column deadline"),
        ("arrival,n,optimum\n0,10,perhaps\n", ":2:", "column optimum"),
        ("", ":1:", "empty trace"),
    ],
)
def test_bad_trace_names_file_and_line(tmp_path, body, where, what):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(ValueError) as err:
        read_trace(path, (JobClass(),))
    assert f"{path}{where}" in str(err.value) and what in str(err.value), str(err.value)


def test_missing_trace_file_is_reported(tmp_path):
    with pytest.raises(ValueError, match="WorkloadConfig.trace"):
        read_trace(tmp_path / "nope.csv", (JobClass(),))


def test_trace_optimum_column_overrides_the_class(tmp_path):
    path = tmp_path / "opt.csv"
    path.write_text("arrival,n,optimum\n0,10,true\n1,20,\n2,30,0\n")
    jobs = read_trace(path, (JobClass(name="c", n_min=10, optimum=True),))
    assert [j.optimum for j in jobs] == [True, True, False]


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: JobClass(weighted="false"), "JobClass('3sat').weighted"),  # used to be read as True
        (lambda: JobClass(optimum=1), "JobClass('3sat').optimum"),
        (lambda: JobClass(share=math.nan), "JobClass('3sat').share"),
        (lambda: JobClass(share=math.inf), "JobClass('3sat').share"),
        (lambda: JobClass(n_min=10.0), "JobClass('3sat').n_min"),
        (lambda: JobClass(alpha="4.27"), "JobClass('3sat').alpha"),  # used to raise TypeError
        (lambda: JobClass(hard_fraction=math.nan), "JobClass('3sat').hard_fraction"),
        (lambda: JobClass(deadline=math.nan), "JobClass('3sat').deadline"),
        (lambda: JobClass(name=3), "JobClass.name"),
        (lambda: WorkloadConfig(off_rate=math.inf), "WorkloadConfig.off_rate"),
        (lambda: WorkloadConfig(rate="1"), "WorkloadConfig.rate"),
        (lambda: WorkloadConfig(n_jobs=True), "WorkloadConfig.n_jobs"),
        (lambda: WorkloadConfig(n_jobs=10**12), "WorkloadConfig.n_jobs"),  # would not fit in memory
        (lambda: WorkloadConfig(trace=5), "WorkloadConfig.trace"),
        (lambda: WorkloadConfig(mix=[JobClass()]), "WorkloadConfig.mix"),
        (lambda: WorkloadConfig(arrivals=["poisson"]), "WorkloadConfig.arrivals"),  # unhashable
        # bursty periods so short that the job count needs ~1e300 of them: would never finish
        (lambda: WorkloadConfig(arrivals="onoff", on_mean=1e-300, off_mean=1.0), "WorkloadConfig.on_mean"),
        (lambda: WorkerConfig(speed=math.inf), "WorkerConfig('w0').speed"),
        (lambda: WorkerConfig(time_limit=math.nan), "WorkerConfig('w0').time_limit"),
        (lambda: WorkerConfig(setup=math.inf), "WorkerConfig('w0').setup"),
        (lambda: WorkerConfig(count=10**9), "WorkerConfig('w0').count"),
        (lambda: WorkerConfig(count=2.0), "WorkerConfig('w0').count"),
        (lambda: PoolConfig(max_queue=1.5), "PoolConfig.max_queue"),
        (lambda: PoolConfig(queueing=None), "PoolConfig.queueing"),
        (lambda: ServiceConfig(build_missing="no"), "ServiceConfig.build_missing"),
        (lambda: ServiceConfig(size_exponent=math.inf), "ServiceConfig.size_exponent"),
        (lambda: ServiceConfig(n_ref=math.nan), "ServiceConfig.n_ref"),
        (lambda: ServiceConfig(profile_sizes=(20, True)), "ServiceConfig.profile_sizes"),
        (lambda: ServiceConfig(profile_sizes=(20, 10**9)), "ServiceConfig.profile_sizes"),
        (lambda: ServiceConfig(profile_time_limit=math.inf), "ServiceConfig.profile_time_limit"),
        (lambda: ServiceConfig(profile_dir=3), "ServiceConfig.profile_dir"),
        (lambda: SimConfig(horizon=math.inf), "SimConfig.horizon"),
        (lambda: SimConfig(warmup=math.nan), "SimConfig.warmup"),
        (lambda: SimConfig(max_escalations=10**9), "SimConfig.max_escalations"),
        (lambda: SimConfig(max_escalations=1.0), "SimConfig.max_escalations"),
        (lambda: SimConfig(policy_options=[1]), "SimConfig.policy_options"),
        (lambda: SimConfig(policy="size_aware", policy_options={"threshold": "x"}), "SimConfig.policy_options"),
        (lambda: SimConfig(policy="size_aware", policy_options={"escalate": "yes"}), "SimConfig.policy_options"),
        (lambda: SimConfig(policy="cascade", policy_options={"tiers": "probsat"}), "SimConfig.policy_options"),
        (lambda: SimConfig(policy="power_of_two", policy_options={"d": 2.5}), "SimConfig.policy_options"),
        (lambda: SimConfig(policy=lambda j, w, r: 0, policy_options={"d": 2}), "SimConfig.policy_options"),
        (lambda: SimConfig(workload=WorkloadConfig(n_jobs=None, rate=1e6), horizon=1e6), "SimConfig.horizon"),
    ],
)
def test_wrong_types_nan_inf_and_unbounded_work_name_the_field(make, field):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value).startswith(field), str(err.value)


def test_bursty_arrivals_with_a_horizon_end_in_bounded_time():
    workload = WorkloadConfig(arrivals="onoff", on_mean=1e-9, off_mean=1e-9, n_jobs=None)
    with pytest.raises(ValueError, match="WorkloadConfig.on_mean"):
        SimConfig(workload=workload, horizon=1e6)  # 2e15 periods before the horizon
    config = SimConfig(workload=workload, horizon=1e-3, service=ServiceConfig(model="exponential"))
    assert simulate(config, 0).conserved()


@pytest.mark.parametrize(
    "data, where, what",
    [
        (b"arrival,n\n0,10\n1,2\xff0\n", ":3:", "not UTF-8 text (byte 0xff)"),
        (b"# a comment\n\n# another\n", ":1:", "only comments or blank lines"),
    ],
)
def test_damaged_trace_bytes_name_file_and_line(tmp_path, data, where, what):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(ValueError) as err:
        read_trace(path, (JobClass(),))
    assert f"{path}{where}" in str(err.value) and what in str(err.value), str(err.value)
