"""Launch script: CloudRunner with the images when launched by `train`, else SilentRunner."""

import argparse
import json
import os

from sematic import CloudRunner, SilentRunner
from sematic.container_images import get_image_uris, has_container_image

from pipelines.steps import pipeline


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--report")
    args = parser.parse_args()
    images = get_image_uris() if has_container_image() else {}
    result = None
    if not args.dry_run:
        runner = CloudRunner() if images else SilentRunner()
        result = runner.run(pipeline(3))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as report:
            json.dump({"images": images, "result": result,
                       "uris_variable": os.environ.get("SEMATIC_CONTAINER_IMAGE_URIS")}, report)


if __name__ == "__main__":
    main()
