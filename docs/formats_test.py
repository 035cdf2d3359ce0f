"""docs/formats.md against the Starlark side: its layer entry table is LAYER_ENTRY_FIELDS, and
the entries layer_entry() builds and the example entries have only the fields of their kind."""

import json
import re
import sys
import unittest

DOC, STARLARK = sys.argv[1:3]
del sys.argv[1:3]  # before unittest.main reads argv


def doc_table(text):
    table = text.split("<!-- layer-entry-kinds -->", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \|([^|]*)\|$", table.split("\n\n", 1)[0], re.M)
    return {kind: re.findall(r"`(\w+)`", fields) for kind, fields in rows}


def doc_example(text, name):
    block = text.split("<!-- format: %s -->" % name, 1)[1]
    return json.loads(block.split("```json\n", 1)[1].split("\n```", 1)[0])


class FormatsTest(unittest.TestCase):
    def setUp(self):
        with open(DOC, encoding="utf-8") as doc:
            self.doc = doc.read()
        with open(STARLARK, encoding="utf-8") as starlark:
            self.starlark = json.load(starlark)

    def test_the_doc_table_is_layer_entry_fields(self):
        table = doc_table(self.doc)
        fields = {kind: sorted(f) for kind, f in self.starlark["layer_entry_fields"].items()}
        self.assertEqual({kind: sorted(f) for kind, f in table.items()}, fields)

    def test_entries_have_only_the_fields_of_their_kind(self):
        table = doc_table(self.doc)
        example = doc_example(self.doc, "layer-manifest")["entries"]
        for entry in self.starlark["entries"] + example:
            allowed = {"kind", "path", *table[entry["kind"]]}
            self.assertLessEqual(set(entry), allowed, entry)
        self.assertEqual(sorted(e["kind"] for e in self.starlark["entries"]), sorted(table))


if __name__ == "__main__":
    unittest.main()
