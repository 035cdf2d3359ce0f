"""The genrule ran the cargo-built sematic-layer: its --help text is the tool's own."""

import sys
import unittest

HELP_FILE = sys.argv.pop(1)  # before unittest.main reads argv


class LayerToolHelpTest(unittest.TestCase):
    def test_help_names_the_tool_and_its_modes(self):
        with open(HELP_FILE, encoding="utf-8") as help_file:
            text = help_file.read()
        self.assertIn("Build one reproducible OCI layer in a single streaming pass", text)
        for mode in ("manifest", "from-tar", "assemble"):
            self.assertRegex(text, r"(?m)^  %s " % mode)


if __name__ == "__main__":
    unittest.main()
