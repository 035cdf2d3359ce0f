"""A pipeline with a step that runs on another base image (`base_image_tag="cuda"`)."""

import sematic


@sematic.func
def prepare(n: int) -> list[float]:
    """Runs on the default image."""
    return [float(i) for i in range(n)]


@sematic.func(base_image_tag="cuda", standalone=True)
def train(data: list[float]) -> float:
    """Runs in its own container on the `cuda` image (a stand-in base in this example)."""
    return sum(x * x for x in data)


@sematic.func
def pipeline(n: int) -> float:
    return train(prepare(n))
