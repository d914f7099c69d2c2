"""What the test handler saw, kept in a sibling module: imported once per process, so every warm
container (a concurrent copy of app.py) appends to the same list."""

import threading

batches = []
_lock = threading.Lock()
