"""What the benchmarks share: timing a call."""

import time


def timed(function, *args, **kwargs):
    """(seconds, result) of `function(*args, **kwargs)`, on the monotonic clock."""
    start = time.monotonic()
    result = function(*args, **kwargs)
    return time.monotonic() - start, result
