"""Resolution of a hash-pinned requirements lock into wheels per target, shared by the module
extension (module_ctx) and the WORKSPACE repository rule (repository_ctx): both can download
and execute. Index pages go through Bazel's downloader, so `--experimental_downloader_config`
mirrors and `.netrc` credentials apply; wheels are downloaded later, by their repositories, by
sha256 (the repository cache keeps them)."""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "read_user_netrc", "use_netrc")
load("//private:platforms.bzl", "CPUS")

# pip's vendored `packaging` evaluates markers and wheel tags; pip itself is never run.
PIP_WHEEL = struct(
    url = "https://files.pythonhosted.org/packages/f3/6e/1736e5b4ae2b778ef2f81c47d797de9f891d4d8acb047a24ca37a60294dd/pip-26.2.1-py3-none-any.whl",
    sha256 = "71138adf1f4ca900cdb7d289c21b7494329f2332b6d85f0e1c42108c0384ed3e",
)

DEFAULT_INDEX_URL = "https://pypi.org/simple"

def find_python(ctx, python, what):
    """The host interpreter `python`, or fail naming `what`.

    Args:
      ctx: module_ctx or repository_ctx.
      python: an absolute path or a name on PATH.
      what: the repository asking, for the message.

    Returns:
      The interpreter's path.
    """
    interpreter = ctx.path(python) if python.startswith("/") else ctx.which(python)
    if not interpreter or not interpreter.exists:
        fail("%s: interpreter %s not found: install it or set python = \"/path/to/python3\"" % (what, python))
    return interpreter

def pip_wheel(ctx):
    """Downloads the pinned pip wheel (through the repository cache).

    Args:
      ctx: module_ctx or repository_ctx.

    Returns:
      The wheel's path.
    """
    output = ctx.path("_rules_sematic/pip.whl")
    ctx.download(url = PIP_WHEEL.url, sha256 = PIP_WHEEL.sha256, output = output)
    return output

def _run(ctx, what, command, timeout):
    result = ctx.execute(command, timeout = timeout, quiet = True)
    if result.return_code != 0:
        fail("%s: %s" % (what, (result.stderr or result.stdout).strip()))
    return result.stdout

def _page_url(index_url, name):
    # PEP 503: the project page is the normalised name with `-`.
    return "%s/%s/" % (index_url.rstrip("/"), name.replace("_", "-"))

def index_urls_of(ctx, index_url, extra_index_urls):
    """The indexes to read: `index_url`, else $PIP_INDEX_URL, else PyPI; then the extras.

    Args:
      ctx: module_ctx or repository_ctx.
      index_url: the configured main index, or "".
      extra_index_urls: more indexes.

    Returns:
      List of index URLs.
    """
    primary = index_url or ctx.os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL
    return [primary] + [u for u in extra_index_urls if u != primary]

def resolve(ctx, what, python, locks, index_urls, libc, timeout):
    """The plan of a requirements repository (see private/pypi/resolver.py).

    Args:
      ctx: module_ctx or repository_ctx.
      what: the repository, for messages, e.g. `sematic.requirements(pypi)`.
      python: host interpreter path or name.
      locks: dict of Python version ("" = the host interpreter's) -> (lock path, lock label).
      index_urls: PEP 503 simple index URLs, the first being the main one.
      libc: "glibc X.Y" or "musl X.Y": the oldest libc of the images' bases.
      timeout: seconds each step may take.

    Returns:
      The plan dict.
    """
    interpreter = find_python(ctx, python, what)
    pip = pip_wheel(ctx)
    resolver = ctx.path(Label("//private/pypi:resolver.py"))
    names_command = [interpreter, resolver, "--pip-wheel", pip, "names", "--lock-label", what]
    for path, _ in locks.values():
        names_command += ["--lock", path]
    names = json.decode(_run(ctx, what, names_command, timeout))

    netrc = read_user_netrc(ctx)
    pending = []
    for name in names:
        for position, index_url in enumerate(index_urls):
            url = _page_url(index_url, name)
            output = ctx.path("_rules_sematic/index/%s.%d.html" % (name, position))
            pending.append((name, url, output, ctx.download(
                url = url,
                output = output,
                allow_fail = True,
                auth = use_netrc(netrc, [url], {}),
                block = False,
            )))
    pages = {}
    for name, url, output, download in pending:
        if download.wait().success:
            pages.setdefault(name, []).append([url, str(output)])
    ctx.report_progress("choosing wheels for %d distributions" % len(names))
    request = ctx.path("_rules_sematic/request.json")
    ctx.file(request, json.encode({
        "cpus": sorted(CPUS),
        "index_pages": pages,
        "libc": libc,
        "locks": {version: {"label": label, "path": str(path)} for version, (path, label) in locks.items()},
    }))
    plan = ctx.path("_rules_sematic/plan.json")
    _run(ctx, what, [interpreter, resolver, "--pip-wheel", pip, "select", "--request", request, "--output", plan], timeout)
    return json.decode(ctx.read(plan))
