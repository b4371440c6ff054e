"""`hc-tf prepare` and `train --sample`: the HC18 TFDS dataset built from a local release."""

from __future__ import annotations

import contextlib
import io

import click

from hc_tf.console import progress


def build(builder, manual_dir: str) -> None:
    """Builds the HC18 TFDS dataset from the local release in `manual_dir`.

    TFDS prints "Downloading and preparing dataset ..." and "... downloaded and prepared"
    to stdout; nothing is downloaded here, and the command says what it built itself.
    """
    import tensorflow_datasets as tfds

    if not progress.wanted():  # TFDS's bars are for a terminal, not for logs and pipes
        tfds.disable_progress_bar()
    with contextlib.redirect_stdout(io.StringIO()):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))


def ensure_prepared(manual_dir: str, data_dir: str, validation_fraction: float) -> None:
    from hc_tf_datasets.hc18 import prepared, sources

    if prepared.find_prepared(data_dir, validation_fraction) is None:
        sources.locate_sources(manual_dir)
        builder = prepared.make_builder(data_dir, validation_fraction)
        try:
            build(builder, manual_dir)
        except sources.InvalidSourceError as err:
            raise click.ClickException(str(err)) from None
