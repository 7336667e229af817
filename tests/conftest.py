"""Suite-wide test settings.

Hypothesis: no per-example deadline and no "too slow" health check. CI runs on a shared
2-core machine where one example can take longer than 200 ms for reasons unrelated to the
code under test; a timing failure there says nothing about correctness (speed is measured
by ``benchmarks/``, never by unit tests). Explicit ``@settings`` in a test still apply.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("evervault-suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("evervault-suite")

# `evervault-local serve` listens on a fixed port by default; every emulator a test starts
# (child processes inherit this) takes a free port instead, so test runs never collide with
# each other or with an emulator the developer has running.
import os  # noqa: E402

os.environ.setdefault("EVERVAULT_LOCAL_PORT", "0")
