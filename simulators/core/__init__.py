"""Shared SimPy building blocks: packets, output ports with queues and serialization delay, monitors."""

from simulators.core.monitor import Monitor
from simulators.core.packet import Packet
from simulators.core.port import Delivery, PausablePort, Port, PriorityPort, ProcessPort, SharedBuffer

__all__ = ["Delivery", "Monitor", "Packet", "PausablePort", "Port", "PriorityPort", "ProcessPort", "SharedBuffer"]
