"""Whether a target stamps: its `stamp` attribute, or Bazel's `--stamp` for `stamp = -1`.

Rules read `--stamp` through the `//private:stamp` target (a config_setting cannot be read from
a rule implementation directly), as rules_oci and rules_img do.
"""

StampSettingInfo = provider(
    doc = "Whether the build was asked to stamp (`--stamp`).",
    fields = {"value": "True under --stamp."},
)

def _stamp_setting_impl(ctx):
    return [StampSettingInfo(value = ctx.attr.value)]

stamp_setting = rule(
    implementation = _stamp_setting_impl,
    doc = "Carries the value of `--stamp` (set through a select in //private:BUILD.bazel).",
    attrs = {"value": attr.bool()},
)

STAMP_ATTRS = {
    "stamp": attr.int(
        default = -1,
        values = [-1, 0, 1],
        doc = "1: expand `{KEY}` in tags from the workspace status; 0: never; -1: under `--stamp`.",
    ),
    "_stamp_setting": attr.label(default = Label("//private:stamp")),
}

def stamp_files(ctx):
    """The workspace status files to expand tags from: none unless the target stamps.

    Args:
      ctx: rule context of a rule with STAMP_ATTRS.

    Returns:
      `[stable-status.txt, volatile-status.txt]` when stamping, else `[]`.
    """
    stamping = ctx.attr.stamp == 1 or (ctx.attr.stamp == -1 and ctx.attr._stamp_setting[StampSettingInfo].value)
    return [ctx.info_file, ctx.version_file] if stamping else []
