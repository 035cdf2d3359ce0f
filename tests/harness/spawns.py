"""Reading Bazel's `--execution_log_json_file`: which actions ran where."""

import json
from pathlib import Path


def executed_spawns(log: Path) -> list:
    """The spawns of the log (a stream of JSON objects, one per spawn)."""
    decoder, text, position, spawns = json.JSONDecoder(), log.read_text(), 0, []
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return spawns
        spawn, position = decoder.raw_decode(text, position)
        spawns.append(spawn)


def sematic_spawns(log: Path) -> list:
    """The spawns of rules_sematic's actions (mnemonics Sematic*: layers, images, indexes, ...)."""
    return [s for s in executed_spawns(log) if s.get("mnemonic", "").startswith("Sematic")]
