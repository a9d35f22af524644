"""New datacenter config fields reject wrong types, NaN, inf and out-of-range values, naming the field."""

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.datacenter import FabricConfig, PathConfig, SimConfig, WorkloadConfig, fluid, simulate

F, P = FabricConfig, PathConfig
BAD = [
    (dict(fabric=F(pfc="yes")), "FabricConfig.pfc"),
    (dict(fabric=F(pfc=True, pfc_xoff_bytes=math.nan)), "FabricConfig.pfc_xoff_bytes"),
    (dict(fabric=F(pfc=True, pfc_xoff_bytes=math.inf)), "FabricConfig.pfc_xoff_bytes"),
    (dict(fabric=F(pfc=True, pfc_xoff_bytes=65536.0)), "FabricConfig.pfc_xoff_bytes"),
    (dict(fabric=F(pfc=True, pfc_xoff_bytes=10 << 20)), "FabricConfig.pfc_xoff_bytes"),  # above buffer_bytes
    (dict(fabric=F(pfc_xoff_bytes=64 * 1024, pfc_xon_bytes=128 * 1024)), "FabricConfig.pfc_xon_bytes"),
    (dict(fabric=F(fail_at=((0, 0, math.nan),))), "FabricConfig.fail_at time_s"),
    (dict(fabric=F(fail_at=((0, 0, math.inf),))), "FabricConfig.fail_at time_s"),
    (dict(fabric=F(fail_at=((0, 0, -1e-6),))), "FabricConfig.fail_at time_s"),
    (dict(fabric=F(fail_at=((0, 9, 1e-6),))), "FabricConfig.fail_at spine"),
    (dict(fabric=F(fail_at=((0.5, 0, 1e-6),))), "FabricConfig.fail_at leaf"),
    (dict(fabric=F(fail_at=((0, 0),))), "FabricConfig.fail_at"),
    (dict(fabric=F(fail_at=5)), "FabricConfig.fail_at"),
    (dict(fabric=F(failed_links=((0, 0),), fail_at=((0, 0, 1e-6),))), "FabricConfig.fail_at"),
    (dict(fabric=F(spines=1, fail_at=((0, 0, 1e-6),))), "FabricConfig.failed_links"),  # disconnects a leaf
    (dict(fabric=F(failed_links=7)), "FabricConfig.failed_links"),
    (dict(fabric=F(shared_buffer=1)), "FabricConfig.shared_buffer"),
    (dict(fabric=F(link_gbps=True)), "FabricConfig.link_gbps"),
    (dict(fabric=F(link_delay_s=math.inf)), "FabricConfig.link_delay_s"),
    (dict(path=P(detection_delay_s=math.nan)), "PathConfig.detection_delay_s"),
    (dict(path=P(detection_delay_s=math.inf)), "PathConfig.detection_delay_s"),
    (dict(path=P(detection_delay_s=-1.0)), "PathConfig.detection_delay_s"),
    (dict(path=P(detection_delay_s="1us")), "PathConfig.detection_delay_s"),
    (dict(path=P(failure_aware=1)), "PathConfig.failure_aware"),
    (dict(path=P(policy="flowlet")), "PathConfig.policy"),
    (dict(transport="tcp"), "SimConfig.transport"),
    (dict(transport=None), "SimConfig.transport"),
    (dict(reorder_window_pkts=0), "SimConfig.reorder_window_pkts"),
    (dict(reorder_window_pkts=8.0), "SimConfig.reorder_window_pkts"),
    (dict(spray_reference="no"), "SimConfig.spray_reference"),
    (dict(dctcp_g=math.nan), "SimConfig.dctcp_g"),
    (dict(workload=WorkloadConfig(jitter_s=True)), "WorkloadConfig.jitter_s"),
]


@pytest.mark.parametrize("fields,name", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_new_field_names_it(fields, name):
    config = dataclasses.replace(SimConfig(), **fields)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        simulate(config, 0)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        fluid(config, 0)


def test_fluid_refuses_failures_during_the_run():
    with pytest.raises(ValueError, match=r"FabricConfig\.fail_at"):
        fluid(SimConfig(fabric=FabricConfig(fail_at=((0, 0, 1e-6),))), 0)


WEIRD = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**7), st.floats(allow_nan=True, allow_infinity=True),
                  st.text(max_size=3), st.tuples(st.integers(-1, 5), st.integers(-1, 5)))
FIELDS = {
    FabricConfig: [f.name for f in dataclasses.fields(FabricConfig)],
    WorkloadConfig: [f.name for f in dataclasses.fields(WorkloadConfig)],
    PathConfig: [f.name for f in dataclasses.fields(PathConfig)],
    SimConfig: [f.name for f in dataclasses.fields(SimConfig) if f.name not in ("fabric", "workload", "path")],
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FIELDS, key=lambda c: c.__name__)).flatmap(
    lambda cls: st.tuples(st.just(cls), st.sampled_from(FIELDS[cls]), WEIRD)))
def test_any_field_value_validates_or_names_the_field(case):
    cls, name, value = case
    if cls is SimConfig:
        config = dataclasses.replace(SimConfig(), **{name: value})
    else:
        part = dataclasses.replace(cls(), **{name: value})
        slot = {FabricConfig: "fabric", WorkloadConfig: "workload", PathConfig: "path"}[cls]
        config = dataclasses.replace(SimConfig(), **{slot: part})
    try:
        config.validate()
    except ValueError as err:
        assert str(err).startswith(("FabricConfig.", "WorkloadConfig.", "PathConfig.", "SimConfig.")), str(err)
