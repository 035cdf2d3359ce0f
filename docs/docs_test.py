"""Fails when a committed API page differs from what the docstrings generate now."""

import sys
from pathlib import Path


def main(arguments: list) -> int:
    stale = []
    for committed, generated in zip(map(Path, arguments[::2]), map(Path, arguments[1::2])):
        if committed.read_text(encoding="utf-8") != generated.read_text(encoding="utf-8"):
            stale.append(committed.name)
    if stale:
        print(f"docs: {', '.join(stale)} out of date with the docstrings: run tools/update_docs.sh and commit",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
