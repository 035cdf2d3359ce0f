"""Entry point of rules_sematic worker images.

It runs the Sematic worker from the `sematic` distribution the pipeline depends on, so the
worker and the pipeline code always come from the same build. First it checks that it runs on
the Python the image's wheels were chosen for: a compiled wheel for another version fails later
with an ImportError deep inside a dependency, which says nothing about the cause.
"""

import os
import sys


def _check_python():
    wanted = os.environ.get("RULES_SEMATIC_PYTHON_VERSION")
    running = "%d.%d" % sys.version_info[:2]
    if wanted and wanted != running:
        sys.stderr.write(
            "rules_sematic worker: this image's Python dependencies are for Python %s but %s is "
            "Python %s: rebuild the image for the base's Python (python_version) or use a base "
            "with Python %s\n" % (wanted, sys.executable, running, wanted)
        )
        sys.exit(2)


if __name__ == "__main__":
    _check_python()
    from sematic.resolvers.worker import wrap_main_with_logging

    wrap_main_with_logging()
