"""Meters: each turns one piece of hardware (or a model of it) into a cumulative energy in joules."""

from ecobench.footprint.meters.base import Channel, Clock

__all__ = ["Channel", "Clock"]
