"""Launch script of //examples/hello:main (`bazel run //examples/hello:main_local -- 1 2 3`)."""

import sys

from examples.hello.pipeline import pipeline
from examples.launch import launch


def make_future(args):
    a, b, c = (float(x) for x in (args or ["1", "2", "3"]))
    return pipeline(a, b, c).set(name="hello", tags=["rules_sematic", "example"])


if __name__ == "__main__":
    sys.exit(launch(__doc__, make_future))
