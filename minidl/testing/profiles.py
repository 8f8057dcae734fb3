"""Hypothesis profiles: ``dev`` for a quick local loop, ``ci`` for continuous integration,
``thorough`` for a long hunt. No deadlines: shared machines are noisy, and a slow example is
not a wrong one."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def register_profiles():
    settings.register_profile("dev", max_examples=10, deadline=None, suppress_health_check=_SUPPRESS)
    settings.register_profile(
        "ci", max_examples=25, deadline=None, suppress_health_check=_SUPPRESS, print_blob=True
    )
    settings.register_profile("thorough", max_examples=400, deadline=None, suppress_health_check=_SUPPRESS)


def load_profile(default: str = "dev") -> str:
    """Register the profiles and load the one named by ``HYPOTHESIS_PROFILE`` (else ``default``)."""
    register_profiles()
    name = os.environ.get("HYPOTHESIS_PROFILE", default)
    settings.load_profile(name)
    return name


register_profiles()
