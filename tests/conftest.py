"""Settings every test shares. Hypothesis' per-example deadline is a timing assertion, and timings never
decide a test here (the machine is shared and noisy): it is off for every property test."""

from hypothesis import settings

settings.register_profile("wagate", deadline=None)
settings.load_profile("wagate")
