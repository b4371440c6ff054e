"""`hc-tf prepare` and `train --sample`: the HC18 TFDS dataset built from a local release."""

from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Optional

import click

from hc_tf.console import progress

# Beside the prepared dataset: the release folder it was built from. TFDS sees a prepared
# version and builds nothing, so without it `prepare --manual-dir OTHER` kept the old data
# (the 24-image sample, say) and said "prepared" as if it had read OTHER.
SOURCE_NAME = "hc_tf_source.json"


def recorded_source(builder) -> Optional[str]:
    """The folder a prepared dataset was built from, or None when it does not say (an older
    hc-tf's)."""
    try:
        with open(os.path.join(builder.data_dir, SOURCE_NAME), encoding="utf-8") as f:
            return str(json.load(f)["manual_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_source(builder, manual_dir: str) -> None:
    """Refuses a prepared dataset built from another folder than `manual_dir` (it would be
    used in its place without a word); one that does not say is named on stderr."""
    source = recorded_source(builder)
    if source is None:
        click.echo(f"note: {builder.data_dir} was prepared earlier from a folder it does not "
                   f"record; it is used as it is ({manual_dir} was not read)", err=True)
    elif source != os.path.realpath(manual_dir):
        raise click.ClickException(
            f"{builder.data_dir}: already prepared from {source}, not from {manual_dir}; "
            "choose another --data-dir, or delete that folder to prepare it again")


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
    with open(os.path.join(builder.data_dir, SOURCE_NAME), "w", encoding="utf-8") as f:
        json.dump({"manual_dir": os.path.realpath(manual_dir)}, f)


def ensure_prepared(manual_dir: str, data_dir: str, validation_fraction: float) -> None:
    from hc_tf_datasets.hc18 import prepared, sources

    found = prepared.find_prepared(data_dir, validation_fraction)
    if found is not None:
        check_source(found, manual_dir)
    else:
        sources.locate_sources(manual_dir)
        builder = prepared.make_builder(data_dir, validation_fraction)
        try:
            build(builder, manual_dir)
        except sources.InvalidSourceError as err:
            raise click.ClickException(str(err)) from None
