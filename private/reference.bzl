"""Checks of where images are pushed: a registry host and an OCI repository name, so a mistake
fails `bazel build //...` with one line instead of the push in the cluster's CI."""

_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
_HOST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"

def _port_error(port):
    if not port.isdigit() or int(port) < 1 or int(port) > 65535:
        return "port %r is not a number from 1 to 65535" % port
    return None

def _host_error(host):
    if host.startswith("["):
        # An IPv6 literal: leave its syntax to the registry client, which parses it fully.
        return None if host.endswith("]") and len(host) > 2 else "an IPv6 address is written [::1]"
    for label in host.split("."):
        if not label or [c for c in label.elems() if c not in _HOST.elems()] or label.startswith("-") or label.endswith("-"):
            return "%r is not a host name (letters, digits and '-' between dots)" % host
    return None

def registry_error(what, registry):
    """Why `registry` cannot be a registry `host[:port]`, or None.

    Args:
      what: the attribute's owner, e.g. `sematic_pipeline(main)`, for the message.
      registry: the text given.

    Returns:
      A one-line message naming the fix, or None.
    """
    if "://" in registry:
        host = registry.split("://", 1)[1].split("/", 1)[0]
        return "%s: registry %r has a scheme: write the host only, registry = %r (TLS is the default; insecure_repository = True allows plain HTTP)" % (what, registry, host)
    if "/" in registry:
        host, path = registry.split("/", 1)
        return "%s: registry %r has a path: the registry is host[:port] only; write registry = %r and put %r at the start of repository" % (what, registry, host, path)
    host, port = registry, None
    if registry.startswith("[") and "]:" in registry:
        host, port = registry.rsplit(":", 1)
    elif not registry.startswith("[") and ":" in registry:
        host, port = registry.split(":", 1)
    problem = _host_error(host) if host else "the host is empty"
    if not problem and port != None:
        problem = _port_error(port)
    if problem:
        return "%s: registry %r is not host[:port] (%s): write it like \"ghcr.io\" or \"127.0.0.1:5000\"" % (what, registry, problem)
    return None

def _component_error(component):
    """Why one `/`-separated part of a repository is not an OCI path component, or None."""
    if not component:
        return "it has an empty component"
    if component.lower() != component:
        return "%r has uppercase letters" % component
    if component[0] not in _LOWER.elems() or component[-1] not in _LOWER.elems():
        return "%r must start and end with a lowercase letter or digit" % component
    run = ""
    for c in component.elems():
        if c in _LOWER.elems():
            if run and run not in (".", "_", "__") and run.replace("-", ""):
                return "%r has the separator %r (use ., _, __ or dashes)" % (component, run)
            run = ""
        elif c in ".-_":
            run += c
        else:
            return "%r has %r" % (component, c)
    return None

def repository_error(what, registry, repository):
    """Why `repository` cannot be an OCI repository name in `registry`, or None.

    Args:
      what: the attribute's owner, for the message.
      registry: the registry host[:port] (its length counts).
      repository: the name given, e.g. `acme/pipelines`.

    Returns:
      A one-line message naming the fix, or None.
    """
    for component in repository.split("/"):
        problem = _component_error(component)
        if problem:
            suggestion = "/".join([part for part in repository.lower().split("/") if part])
            return "%s: repository %r is not a valid OCI repository name (%s): use lowercase letters and digits, separated by '.', '_', '__' or '-', in components joined by '/', e.g. %r" % (what, repository, problem, suggestion or "acme/pipelines")
    if len(registry) + 1 + len(repository) > 255:
        return "%s: %s/%s is longer than 255 characters: shorten repository" % (what, registry, repository)
    return None
