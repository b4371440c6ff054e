"""One readable line instead of a traceback: bad input, and a command whose extra is missing."""

from __future__ import annotations

import functools
from typing import Optional

import click

from hc_tf.surfaces import input_names

# Modules of the optional extras (setup.cfg), by top-level import name.
_EXTRA_OF_MODULE = {**{name: "train" for name in (
    "tensorflow", "keras", "tensorflow_datasets", "segmentation_models", "tensorboard", "etils")},
                    "apache_beam": "beam",
                    **{name: "dicom" for name in ("pydicom", "highdicom", "fhir")}}


def missing_extra_message(err: ImportError) -> Optional[str]:
    """The one-line advice for an import of an optional extra's module that failed.

    Args:
      err: the ImportError raised by an import.

    Returns:
      "... install it with: pip install 'hc-tf[train]'", or None when the module
      is not one of an extra's (a real bug: let it show).
    """
    top = (err.name or "").split(".")[0]
    extra = _EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return (f"this needs {top}, which comes with the [{extra}] extra: "
            f"pip install 'hc-tf[{extra}]' (or pip install -e '.[{extra}]' in a checkout)")


def clean_errors(fn):
    """Bad input ends in one readable line naming the problem, not a traceback;
    so does a command that needs an extra that is not installed."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError, OSError) as err:
            # One line whatever the file names in it hold (a name's LF or ESC escaped)
            raise click.ClickException(input_names.printable_name(str(err))) from None
        except ImportError as err:
            message = missing_extra_message(err)
            if message is None:
                raise
            raise click.ClickException(message) from None
    return wrapper
