"""Footprint: measurement windows around each phase, and the site factors that turn energy into carbon and water."""

from ecobench.config.footprint import FootprintConfig, SiteConfig, use_places
from ecobench.footprint import grid
from ecobench.footprint.measurement import ComponentEnergy, Measurement, Window
from ecobench.footprint.monitor import Monitor
from ecobench.footprint.site import Site, SiteFootprint, resolve_site

use_places(grid)  # the suite's site validators check country and region names against this grid data

__all__ = ["ComponentEnergy", "FootprintConfig", "Measurement", "Monitor", "Site", "SiteConfig", "SiteFootprint",
           "Window", "resolve_site"]
