"""Build settings only rules_sematic's transitions set (not command-line flags)."""

def _internal_string_setting_impl(_ctx):
    return []

internal_string_setting = rule(
    implementation = _internal_string_setting_impl,
    build_setting = config.string(flag = False),
    doc = "A string setting that transitions set and `config_setting`s read.",
)
