"""Datacenter transport simulator: leaf-spine fabrics, collectives, path selection, packet + fluid models."""

from simulators.datacenter.config import (
    PATTERNS,
    PLACEMENTS,
    POLICIES,
    TRANSPORTS,
    FabricConfig,
    PathConfig,
    SimConfig,
    WorkloadConfig,
)
from simulators.datacenter.fluid import fluid
from simulators.datacenter.packet import PacketSim, simulate
from simulators.datacenter.result import Result
from simulators.datacenter.topology import Fabric

__all__ = [
    "PATTERNS", "PLACEMENTS", "POLICIES", "Fabric", "FabricConfig", "PacketSim", "PathConfig", "Result",
    "SimConfig", "TRANSPORTS", "WorkloadConfig", "fluid", "simulate",
]
