"""Shared test configuration: hypothesis profiles and small model fixtures.

Profiles
--------
``ci`` (default): deterministic (derandomized, no example database, no
deadline) so that a CI failure reproduces exactly.
``dev``: many more examples with random seeds, for local bug hunting:
``HYPOTHESIS_PROFILE=dev pytest``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=300,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
