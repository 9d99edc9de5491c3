"""Help in a DSL's words (issue 23): every command's --help is read, and fails on a word a DSL would
not know unexplained, on a leaf command without an example at its end, and on CPOMS_NOW outside the
top-level "Testing and demos" part."""

from __future__ import annotations

import re

import click
import pytest

from cpoms_kit.cli import main

# Never in any help: each has a plain word that says the same.
BANNED = ("front matter", "ulid", "replay", "re-signed", "pinned", "xdg_state_home", "ciphertext", "plaintext",
          "reflog", "pre-receive", "blob", "stdin", "sha256 of", "hex")
# Allowed only with their explanation in the same sentence (word -> what the sentence must also say).
GLOSSED = {"fingerprint": "identif", "gnupghome": "keyring"}
# Explained once, in `cpoms --help`, and used everywhere after.
GLOSSARY = {"commit": "a change to the shared history"}


def _commands():
    def walk(cmd, path, parent):
        ctx = click.Context(cmd, info_name=path[-1], parent=parent)
        yield " ".join(path), cmd, cmd.get_help(ctx)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), [*path, name], ctx)
    return list(walk(main, ["cpoms"], None))


COMMANDS = _commands()


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.;])\s+|\n\s*\n", text)


def test_every_command_is_listed():
    names = {path for path, _, _ in COMMANDS}
    assert {"cpoms today", "cpoms check", "cpoms completion install", "cpoms case show"} <= names
    assert len(names) > 70


@pytest.mark.parametrize("path, cmd, text", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_help_has_no_jargon_and_ends_with_examples(path, cmd, text):
    low = text.lower()
    found = [w for w in BANNED if w in low]
    assert not found, f"{path}: {found}"
    for word, gloss in GLOSSED.items():
        for sentence in _sentences(low):
            # an option's own name (--gnupghome) is not the word used in prose
            prose = re.sub(r"--[a-z-]+", "", sentence)
            assert word not in prose or gloss in prose, f"{path}: {word!r} unexplained in {sentence!r}"
    if path != "cpoms":
        assert "cpoms_now" not in low, path
    if not isinstance(cmd, click.Group):
        tail = text.rstrip().split("\n\n")[-1]
        assert re.match(r"\s*Examples?:\n(\s+cpoms .+\n?)+$", tail), f"{path} does not end with examples:\n{tail}"


def test_the_top_level_help_explains_the_glossary_and_keeps_the_clock_for_testing():
    text = next(t for p, _, t in COMMANDS if p == "cpoms")
    flat = " ".join(text.split())
    for word, gloss in GLOSSARY.items():
        assert word in flat and gloss in flat, word
    assert "CPOMS_NOW" in text.split("Testing and demos:")[1] and "CPOMS_NOW" not in text.split("Testing and demos:")[0]
