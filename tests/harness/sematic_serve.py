"""The process of the harness's Sematic server (sematic_server.py starts it with the test
venv's Python): what `sematic start` does in Sematic 0.41 (the `local` configuration, the
database migrations, `sematic.api.server.run_locally`), in the foreground, plus one route 0.41
lacks.

That route: a worker uploads its logs to the storage namespace `logs/v2/run_id/<run>/<kind>`
(sematic/log_reader.py), and 0.41 serves PUT /api/v1/storage/<namespace>/<key>/local, whose
namespace cannot hold a "/" (sematic/plugins/storage/local_storage.py), so with LocalStorage
every log upload gets HTTP 405 and is retried 3 times 10 s apart, and each worker's exit waits
for its last upload. The same view is added with `<path:namespace>`, as 0.41's `location`
route already has. The images are not patched: they run Sematic as released."""

from sematic.config.config import switch_env
from sematic.db.migrate import migrate_up

switch_env("local")
migrate_up()

from sematic.api.app import sematic_api  # noqa: E402  (after the configuration is chosen)
from sematic.api.server import run_locally  # noqa: E402
from sematic.plugins.storage.local_storage import upload_endpoint  # noqa: E402

sematic_api.add_url_rule("/api/v1/storage/<path:namespace>/<key>/local", "upload_nested_namespace",
                         upload_endpoint, methods=["PUT"])
run_locally()
