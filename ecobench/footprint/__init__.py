"""Footprint: measurement windows around each phase, and the site factors that turn energy into carbon and water."""

from ecobench.footprint.config import FootprintConfig, SiteConfig
from ecobench.footprint.monitor import Measurement, Monitor, Window
from ecobench.footprint.site import Site, resolve_site

__all__ = ["FootprintConfig", "Measurement", "Monitor", "Site", "SiteConfig", "Window", "resolve_site"]
