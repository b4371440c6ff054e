"""docs/commands.md is the reference of every option (README sends readers there for "every
option"): each command's long options are named in it, so a new flag cannot go undocumented."""

import os
import re

import click

from hc_tf import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _commands(cmd, path=()):
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, path + (name,))
    else:
        yield " ".join(path), cmd


def test_every_long_option_of_every_command_is_named_in_commands_md():
    with open(os.path.join(REPO, "docs", "commands.md"), encoding="utf-8") as f:
        text = f.read()

    def named(opt):
        return re.search(rf"(?<![\w-]){opt}(?![\w-])", text)

    missing = [f"{name} {p.opts[0]}" for name, cmd in _commands(cli.main) for p in cmd.params
               if isinstance(p, click.Option) and not p.hidden and p.name != "help"
               and not any(named(o) for o in p.opts + p.secondary_opts if o.startswith("--"))]
    assert not missing, missing
