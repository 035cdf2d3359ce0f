"""What the examples' launch scripts share: choosing a runner the way Sematic users do.

With container images (the `<name>` and `<name>_binary` targets set SEMATIC_CONTAINER_IMAGE_URIS)
the pipeline goes to the Sematic server with CloudRunner, detached as CloudRunner() is by
default: the server starts a driver Job in the `default` image, which runs the pipeline (inline
functions in its own process, standalone ones in Jobs of their keys' images), and the script
returns once the run is submitted. `--local-driver` runs the driver here instead (then only
standalone functions run in images). Without images (`<name>_local`) the pipeline runs in this
process with SilentRunner, no server needed.
"""

import argparse
import json
import os
import sys

from sematic import CloudRunner, SilentRunner
from sematic.container_images import get_image_uris, has_container_image

_IMAGE_VARIABLES = ("SEMATIC_CONTAINER_IMAGE", "SEMATIC_CONTAINER_IMAGE_URIS")


def launch(description, make_future, driver_resources=None):
    """Runs the pipeline `make_future(args)` makes. `driver_resources`: the driver pod's
    Sematic ResourceRequirements (e.g. a node selector), when it runs on the cluster."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dry-run", action="store_true", help="show the runner and images, run nothing")
    parser.add_argument("--report", help="write the runner, image environment and result to this JSON file")
    parser.add_argument("--local-driver", action="store_true",
                        help="CloudRunner: run the driver here and wait for the result, instead of submitting it")
    args, pipeline_args = parser.parse_known_args()

    cloud = has_container_image()
    detached = cloud and not args.local_driver
    images = get_image_uris() if cloud else {}
    runner_name = "CloudRunner" if cloud else "SilentRunner"
    print(f"runner: {runner_name}")
    for key, uri in sorted(images.items()):
        print(f"image {key}: {uri}")

    result = None
    if not args.dry_run:
        if cloud:
            resources = {"resources": driver_resources} if driver_resources else {}
            runner = CloudRunner(detach=detached, **resources)
        else:
            runner = SilentRunner()
        result = runner.run(make_future(pipeline_args))
        # Detached, CloudRunner returns the pipeline run's id.
        print(f"submitted: pipeline run {result}" if detached else f"result: {result}")

    if args.report:
        with open(args.report, "w", encoding="utf-8") as report:
            json.dump(
                {
                    "argv": pipeline_args,
                    "detached": detached,
                    "environment": {name: os.environ.get(name) for name in _IMAGE_VARIABLES},
                    "image_uris": images,
                    "result": result,
                    "runner": runner_name,
                },
                report,
                indent=2,
                sort_keys=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit("launch.py is a library for the examples' launch scripts")
