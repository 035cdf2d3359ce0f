"""A consumer's pipeline: one step on the default image, one on the gpu image."""

import sematic


@sematic.func
def double(x: int) -> int:
    return 2 * x


@sematic.func(base_image_tag="gpu", standalone=True)
def square(x: int) -> int:
    return x * x


@sematic.func
def pipeline(x: int) -> int:
    return square(double(x))
