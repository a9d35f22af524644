"""The datacenter_spraying experiment: the paper preset's sweep, config checks, and the min_split ratio table."""

import dataclasses
import math

import pytest

from experiments.datacenter_spraying import (
    DatacenterSprayingConfig,
    apply_preset,
    min_split_ratios,
    points,
    run,
    table,
)


def test_paper_preset_sweep_and_narrowing():
    full = points(DatacenterSprayingConfig(preset="paper"))
    # packet level (1, 4, 16 MiB): patterns x sizes x transports x pfc x failures x policies; fluid (64, 256 MiB):
    # one transport-free point per pattern x size x failures x policies
    assert len(full) == 4 * 3 * 3 * 2 * 2 * 4 + 4 * 2 * 2 * 4
    fluid_points = [p for p in full if p.message_bytes > 16 << 20]
    assert {(p.transports, p.pfc, p.packet_max_hosts) for p in fluid_points} == {(("ideal",), (False,), 0)}
    first = full[0]
    assert first.hosts == (256,) and first.link_gbps == 400.0 and first.message_bytes == 1 << 20
    assert first.transports == ("ideal",) and first.preset == ""
    narrow = points(DatacenterSprayingConfig(preset="paper", message_sizes=(1 << 20,), patterns=("all_to_all",)))
    assert len(narrow) == 3 * 2 * 2 * 4 and {p.patterns for p in narrow} == {("all_to_all",)}
    assert apply_preset(DatacenterSprayingConfig()) == DatacenterSprayingConfig()


def test_command_line_fields_win_over_the_paper_preset():
    """`--set preset=paper --set pfc=false` keeps pfc off although False is the field's plain default."""
    from experiments.overrides import parse_overrides
    from experiments.registry import get

    experiment = get("datacenter_spraying")
    overrides = parse_overrides(DatacenterSprayingConfig, ["preset=paper", "pfc=false", "patterns=hd_allreduce",
                                                           "message_sizes=4194304", "transports=ideal"])
    sweep = experiment.expand(experiment.make_config(overrides=overrides))
    assert len(sweep) == 2 * 4  # failures x policies
    assert {(p.pfc, p.patterns, p.message_bytes, p.transports) for p in sweep} == {
        ((False,), ("hd_allreduce",), 4 << 20, ("ideal",))}
    assert {p.hosts for p in sweep} == {(256,)} and {p.link_gbps for p in sweep} == {400.0}


@pytest.mark.parametrize("fields,name", [
    (dict(preset="huge"), "DatacenterSprayingConfig.preset"),
    (dict(transports=("tcp",)), "DatacenterSprayingConfig.transports"),
    (dict(pfc=("yes",)), "DatacenterSprayingConfig.pfc"),
    (dict(failures=(2,)), "DatacenterSprayingConfig.failures"),
    (dict(message_sizes=(math.nan,)), "DatacenterSprayingConfig.message_sizes"),
    (dict(link_gbps=math.inf), "DatacenterSprayingConfig.link_gbps"),
    (dict(policies=("flowlet",)), "DatacenterSprayingConfig.policies"),
    (dict(patterns="ring_allreduce"), "DatacenterSprayingConfig.patterns"),
    (dict(packet_max_bytes=-1), "DatacenterSprayingConfig.packet_max_bytes"),
])
def test_bad_experiment_config_names_field(fields, name):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        DatacenterSprayingConfig(**fields)


def test_small_paper_points_give_a_ratio_table():
    base = dataclasses.replace(apply_preset(DatacenterSprayingConfig(preset="paper")), hosts=(16,),
                               message_sizes=(64 * 1024,), patterns=("hd_allreduce",), pfc=(False,),
                               failures=(0,), transports=("ideal", "go_back_n"))
    records = [{"config": dataclasses.asdict(p), "seed": 0, "metrics": run(p, 0)} for p in points(base)]
    assert len(records) == 2 * 4 and all(r["metrics"]["completed"] for r in records)
    ratios = min_split_ratios(records)
    assert set(ratios) == {(16, "hd_allreduce", 64 * 1024, t, False, 0) for t in ("ideal", "go_back_n")}
    assert set(ratios[(16, "hd_allreduce", 64 * 1024, "ideal", False, 0)]) == {"spray_rr", "spray_random", "reps"}
    assert all(r["metrics"]["cct_over_ideal"] >= 1.0 - 1e-9 for r in records)
    assert "CCT of min_split / CCT of the other policy" in table(records)


def test_sizes_above_packet_max_bytes_run_once_at_the_fluid_level():
    base = dataclasses.replace(apply_preset(DatacenterSprayingConfig(preset="paper")), hosts=(16,),
                               message_sizes=(64 * 1024, 256 * 1024), packet_max_bytes=64 * 1024,
                               patterns=("hd_allreduce",), pfc=(False, True), failures=(0,), transports=("ideal",))
    sweep = points(base)
    assert len(sweep) == 2 * 4 + 4  # 64 KiB: pfc x policies at the packet level; 256 KiB: policies, fluid
    records = [{"config": dataclasses.asdict(p), "seed": 0, "metrics": run(p, 0)} for p in sweep]
    models = {(r["metrics"]["message_bytes"], r["metrics"]["model"]) for r in records}
    assert models == {(64 * 1024, "packet"), (256 * 1024, "fluid")}
    assert all(r["metrics"]["completed"] and r["metrics"]["cct_over_ideal"] >= 1.0 - 1e-9 for r in records)
    text = table(records)
    assert "| 16 | hd_allreduce | 0.25 | fluid | - | 0 |" in text and "ran at the flow level" in text
    assert "| 16 | hd_allreduce | 0.0625 | ideal | yes | 0 |" in text
