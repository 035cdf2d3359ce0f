"""A small Sematic pipeline: every function is a step Sematic can run in the pipeline's image."""

import sematic


@sematic.func
def add(a: float, b: float) -> float:
    """Adds two numbers."""
    return a + b


@sematic.func
def pipeline(a: float, b: float, c: float) -> float:
    """(a + b) + (b + c)."""
    return add(add(a, b), add(b, c))
