"""Stands where the Sematic worker should be in //tests/roundtrip:not_worker_image: prints its
arguments and exits 0, as an image whose ENTRYPOINT runs some other program would."""

import sys

print("not the Sematic worker; arguments:", sys.argv[1:])
