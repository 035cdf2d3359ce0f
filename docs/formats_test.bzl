"""What the Starlark side writes of the formats in docs/formats.md, for formats_test.py."""

load("//private:layer_entry.bzl", "LAYER_ENTRY_FIELDS", "layer_entry")

def _starlark_formats_impl(ctx):
    # One entry per kind with every field it takes, built as the rules build them.
    entries = [
        layer_entry(kind, "/%s" % kind, **{field: "0755" if field == "mode" else "x/y" for field in fields})
        for kind, fields in LAYER_ENTRY_FIELDS.items()
    ]
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    ctx.actions.write(out, json.encode({"entries": entries, "layer_entry_fields": LAYER_ENTRY_FIELDS}))
    return [DefaultInfo(files = depset([out]))]

starlark_formats = rule(
    implementation = _starlark_formats_impl,
    doc = "Writes LAYER_ENTRY_FIELDS and one layer_entry() of each kind as JSON.",
)
