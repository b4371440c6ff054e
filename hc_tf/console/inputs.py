"""`--` before a command's inputs: what follows it is inputs, whatever their names.

Click reads `-dash.png` as the short options -d -a -s -h (and prints the help); after `--` it
is an input. `predict` uses this command class (`hc-tf predict [OPTIONS] -- -dash.png`).
"""

from __future__ import annotations

import os

import click

AFTER_DASHES = "hc_tf_inputs_after_dashes"


class DashInputsCommand(click.Command):
    """`--` ends the options (what follows is inputs, even `-x.png`); before it, an existing
    file whose name starts with '-' is refused in words (Click would read `-dash.png` as the
    short options -d -a -s -h, and print the help)."""

    def parse_args(self, ctx, args):
        before = args[:args.index("--")] if "--" in args else args
        ctx.meta[AFTER_DASHES] = len(args) - len(before) - 1 if "--" in args else 0
        dashed = next((a for a in before if a.startswith("-") and len(a) > 1
                       and os.path.lexists(a)), None)
        if dashed:
            raise click.UsageError(f"{dashed}: a file name starting with '-' reads as an option; "
                                   f"put -- before the inputs: hc-tf {ctx.info_name} [OPTIONS] "
                                   f"-- {dashed}", ctx)
        return super().parse_args(ctx, args)
