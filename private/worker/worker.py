"""Entry point of rules_sematic worker images.

It runs the Sematic worker from the `sematic` distribution the pipeline depends on, so the
worker and the pipeline code always come from the same build.
"""

from sematic.resolvers.worker import wrap_main_with_logging

if __name__ == "__main__":
    wrap_main_with_logging()
