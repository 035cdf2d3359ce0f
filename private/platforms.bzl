"""The platforms rules_sematic builds images for, named as OCI platforms (`os/arch`)."""

# The platform of an image when none is asked for, here and in every rule and macro.
DEFAULT_PLATFORM = "linux/amd64"

# OCI platform -> the Bazel platform an image for it is built in (see //platforms).
IMAGE_PLATFORMS = {
    "linux/amd64": Label("//platforms:linux_amd64"),
    "linux/arm64": Label("//platforms:linux_arm64"),
}

# @platforms//cpu constraint -> the OCI architecture and the wheel platform tag's machine.
CPUS = {
    "aarch64": struct(oci = "arm64", machine = "aarch64"),
    "x86_64": struct(oci = "amd64", machine = "x86_64"),
}

def image_platform_attr():
    """The `platform` attribute of rules building one image."""
    return attr.string(
        default = DEFAULT_PLATFORM,
        values = sorted(IMAGE_PLATFORMS),
        doc = "Platform the image is for. The image and its dependencies are built in the " +
              "Bazel platform `@rules_sematic//platforms:<os>_<arch>`, so `select()`s, Python " +
              "wheels and toolchains follow it; from a base that is an image index, the " +
              "matching image is taken.",
    )

def cpu_constraint_attrs():
    """Private attributes to read the target CPU of the configuration (see `oci_platform`)."""
    return {
        "_cpu_" + cpu: attr.label(default = Label("@platforms//cpu:" + cpu))
        for cpu in CPUS
    }

def oci_platform(ctx):
    """The OCI platform (`linux/<arch>`) of the configuration `ctx` is analysed in.

    Args:
      ctx: rule context of a rule with `cpu_constraint_attrs()`.

    Returns:
      e.g. "linux/arm64"; fails for a CPU rules_sematic builds no images for.
    """
    for cpu, info in CPUS.items():
        constraint = getattr(ctx.attr, "_cpu_" + cpu)[platform_common.ConstraintValueInfo]
        if ctx.target_platform_has_constraint(constraint):
            return "linux/" + info.oci
    fail("%s: the target platform's CPU is none of %s: rules_sematic builds images for %s" %
         (ctx.label, ", ".join(sorted(CPUS)), ", ".join(sorted(IMAGE_PLATFORMS))))

# The Python versions an image can ask requirement() repositories for (`major.minor`).
PYTHON_VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]

def libc_error(text):
    """Why `text` is not a C library as rules_sematic writes it (`glibc 2.36`, `musl 1.2`), or None.

    Args:
      text: the value given.

    Returns:
      The end of a one-line message, or None.
    """
    kind, _, version = text.partition(" ")
    parts = version.split(".")
    if kind in ("glibc", "musl") and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return None
    return "libc %r is not `glibc X.Y` or `musl X.Y`: write it like \"glibc 2.36\"" % text
