"""ecobench: train, prune and measure the footprint of every phase."""

__version__ = "0.1.0"
