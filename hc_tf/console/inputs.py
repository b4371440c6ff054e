"""`--` before a command's inputs: what follows it is inputs, whatever their names.

Click reads `-dash.png` as the short options -d -a -s -h (and prints the help); after `--` it
is an input. `predict` uses this command class (`hc-tf predict [OPTIONS] -- -dash.png`).
"""

from __future__ import annotations

import os

import click

AFTER_DASHES = "hc_tf_inputs_after_dashes"


def _option_part(arg: str) -> str:
    """`--out=x` -> `--out` (Click's long-option form); anything else as it is."""
    return arg.split("=", 1)[0] if arg.startswith("--") else arg


class DashInputsCommand(click.Command):
    """`--` ends the options (what follows is inputs, even `-x.png`); before it, an existing
    file whose name starts with '-' is refused in words (Click would read `-dash.png` as the
    short options -d -a -s -h, and print the help), unless it is one of the command's options."""

    def _option_names(self, ctx) -> set:
        """Every name of this command's options (`--overwrite`, `--no-x`, `-q`, `--help`)."""
        return {o for p in self.get_params(ctx) if isinstance(p, click.Option)
                for o in p.opts + p.secondary_opts}

    def parse_args(self, ctx, args):
        before = args[:args.index("--")] if "--" in args else args
        ctx.meta[AFTER_DASHES] = len(args) - len(before) - 1 if "--" in args else 0
        # A real option (`--overwrite`, `--out=x`) is one even if a file of that name exists here.
        options = self._option_names(ctx)
        dashed = next((a for a in before if a.startswith("-") and len(a) > 1
                       and _option_part(a) not in options and os.path.lexists(a)), None)
        if dashed:
            raise click.UsageError(f"{dashed}: a file name starting with '-' reads as an option; "
                                   f"put -- before the inputs: hc-tf {ctx.info_name} [OPTIONS] "
                                   f"-- {dashed}", ctx)
        return super().parse_args(ctx, args)
