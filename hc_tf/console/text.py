"""What the command line parses and prints: sizes and widths as typed, counts and figures."""

from __future__ import annotations

import time

import click

from hc_tf import defaults
from hc_tf.surfaces import input_names


def size_text(hw) -> str:
    """(224, 320) -> "224x320", the form `--input-size` takes."""
    return "x".join(str(v) for v in hw)


def filters_text(filters) -> str:
    """(128, 64, ...) -> "128,64,...", the form `--decoder-filters` takes."""
    return ",".join(str(v) for v in filters)


def parse_size(value: str):
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected HEIGHTxWIDTH, "
                                 f"e.g. {size_text(defaults.INPUT_HW)}") from None
    return h, w


def parse_filters(value: str):
    try:
        filters = tuple(int(v) for v in value.split(","))
    except ValueError:
        filters = ()
    if len(filters) != 5 or min(filters) < 1:
        raise click.BadParameter(f"{value!r}: expected five positive widths, "
                                 f"e.g. {filters_text(defaults.DEFAULT_DECODER_FILTERS)}")
    return filters


def echo_evaluation(summary, t, out_dir, unreadable=0):
    skipped = f" ({unreadable} unreadable, listed in unreadable.csv)" if unreadable else ""
    click.echo(f"{count(summary['n'], 'image')}{skipped} in {time.time() - t:.1f} s: "
               f"ADF {fmt(summary['adf_mm_mean'])} +- {fmt(summary['adf_mm_std'])} mm "
               f"(over found images {fmt(summary['adf_found_mm_mean'])} mm), "
               + (f"Dice {fmt(summary['dice_mean'], 4)}, HD {fmt(summary['hd_mm_mean'])} mm, "
                  if summary["dice_mean"] is not None else "no Dice or HD (no reference outline), ")
               + f"not found {summary['not_found']} -> {out_dir}")
    ba, flag = summary["bland_altman"], summary["review_flag"]
    click.echo(f"Bland-Altman (found images): mean difference {fmt(ba['mean_diff_mm'])} mm, "
               f"95% limits {fmt(ba['loa_low_mm'])} to {fmt(ba['loa_high_mm'])} mm; "
               f"review flag: {flag['n_flagged']}/{flag['n_found']} flagged, "
               f"{flag['n_large_error_caught']}/{flag['n_large_error']} errors > "
               f"{flag['large_error_mm']:g} mm caught")
    bands = "; ".join(f"{band} mm {fmt(b['adf_mm_mean'])} ({b['n']})"
                      for band, b in summary["bands"].items())
    iv = summary["hc_interval"]
    held = (f"covers {fmt(iv['coverage'])} of {count(iv['n'], 'image')} (median half-width "
            f"{fmt(iv['median_half_width_mm'])} mm)" if iv["n"] else
            f"none ({iv.get('note') or 'no image has one'})")
    click.echo(f"ADF by head size: {bands}; {iv['level']:.0%} HC interval: {held}")
    bio = summary.get("biometry")  # an outline's axes: none for a reference HC alone
    if bio and bio["bpd"]["n"]:
        click.echo("; ".join(f"{what.upper()} (ellipse axis): mean |error| "
                             f"{fmt(bio[what]['adf_mm_mean'])} mm, mean error "
                             f"{fmt(bio[what]['df_mm_mean'])} mm" for what in ("bpd", "ofd")))


def echo_err(line: str) -> None:
    """One line on stderr, its control characters escaped (`input_names.printable_name`): the
    lines naming inputs, whose names may hold a line break or a terminal's escape."""
    click.echo(input_names.printable_name(line), err=True)


def echo_reference_rows(ref):
    """evaluate --reference-csv: how many of the CSV's rows were scored, and which were not."""
    missed = ref["not_scored"]
    names = ", ".join(missed[:10]) + (f" (and {len(missed) - 10} more)" if len(missed) > 10 else "")
    click.echo(input_names.printable_name(
        f"{ref['path']}: {ref['rows_scored']} of {count(ref['rows'], 'row')} scored"
        + (f"; not scored: {names} (why: unreadable.csv)" if missed else "")))


def count(n: int, noun: str) -> str:
    """"1 image", "3 images"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"
