"""An image's environment: the user's variables, checked, then the Sematic contract's."""

_SEMATIC_BIN = "/sematic/bin"

def env_error(owner, env):
    """Why `env` would build an image that breaks in the cluster, or None.

    A `PATH` that neither extends the base's (`$PATH`) nor lists `/usr/bin` hides the base's
    `python3` and every system tool: an error, not a warning, since the image cannot run
    (`python3: not found`) and Bazel warnings scroll away. (`$VAR`s the base does not define
    are caught by sematic-image, which reads the base's environment.)

    Args:
      owner: who sets `env`, for messages (`sematic_pipeline(x)` or an image label).
      env: dict of variable -> value, or None.

    Returns:
      A one-line message, or None.
    """
    for name, value in (env or {}).items():
        if type(value) != "string":
            return "%s: env[%r] = %r is not a string: write %r" % (owner, name, value, str(value))
    path = (env or {}).get("PATH")
    if path != None and "$PATH" not in path and "${PATH}" not in path and "/usr/bin" not in path.split(":"):
        return "%s: env[\"PATH\"] = %r drops the base image's PATH (python3 and /usr/bin would be gone): write %r" % (owner, path, path + ":$PATH")
    return None

def check_env(owner, env):
    """Fails with env_error's message, if any.

    Args:
      owner: who sets `env`, for messages.
      env: dict of variable -> value, or None.
    """
    error = env_error(owner, env)
    if error:
        fail(error)

def image_env(user_env, worker_path, python, python_version):
    """The environment settings of a worker image: the user's, then the Sematic contract.

    Args:
      user_env: dict of the user's variables (values may use `$VAR` of the base).
      worker_path: image path of the worker py_binary, for the bazel_python shim.
      python: image path of the interpreter that starts the worker.
      python_version: `major.minor` the image's Python code was resolved for, or None.

    Returns:
      dict of variables for sematic-image: /sematic/bin first on PATH, BAZEL_BUILT_IMAGE=1.
    """
    env = dict(user_env)
    path = env.get("PATH", "$PATH")
    if not path.startswith(_SEMATIC_BIN + ":") and path != _SEMATIC_BIN:
        path = _SEMATIC_BIN + ":" + path
    env["PATH"] = path
    env["BAZEL_BUILT_IMAGE"] = "1"
    env["RULES_SEMATIC_PYTHON"] = python
    env["RULES_SEMATIC_WORKER"] = worker_path
    if python_version:
        env["RULES_SEMATIC_PYTHON_VERSION"] = python_version
    return env
