"""Fixtures shared with the footprint tests: a fake NVML library and a hand-moved clock."""

from tests.footprint.conftest import clock, fake_nvml, no_cuda_env  # noqa: F401 (fixtures)
