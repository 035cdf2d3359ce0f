"""Launch script of //examples/multi:main, a pipeline on two base images (default and cuda)."""

import sys

from examples.launch import launch
from examples.multi.pipeline import pipeline


def make_future(args):
    n = int(args[0]) if args else 4
    return pipeline(n).set(name="multi", tags=["rules_sematic", "example"])


if __name__ == "__main__":
    sys.exit(launch(__doc__, make_future))
