"""Footprint: measurement windows around each phase, and the site factors that turn energy into carbon and water."""

from ecobench.footprint.config import FootprintConfig, SiteConfig
from ecobench.footprint.measurement import ComponentEnergy, Measurement, Window
from ecobench.footprint.monitor import Monitor
from ecobench.footprint.site import Site, SiteFootprint, resolve_site

__all__ = ["ComponentEnergy", "FootprintConfig", "Measurement", "Monitor", "Site", "SiteConfig", "SiteFootprint",
           "Window", "resolve_site"]
