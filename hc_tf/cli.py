"""`hc-tf`: the command line. Each command imports what it needs, when it runs:
`evaluate`/`predict` on a `.tflite` model never import TensorFlow. Here: the group, and the
commands that measure with a model (evaluate, predict, demo); the ones that make a model are
hc_tf/console/model_commands.py, the DICOM node's hc_tf/node/cli_lib.py."""

from __future__ import annotations

import os
import sys
import time

import click

from hc_tf import __version__
from hc_tf.console import errors
from hc_tf.console import inputs as cli_inputs
from hc_tf import defaults
from hc_tf.console import model_commands
from hc_tf.console import quiet
from hc_tf.console import text
from hc_tf.surfaces import input_names
from hc_tf.node import cli_lib as node_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hc-tf")
@click.option("--verbose", is_flag=True,
              help="Show TensorFlow's C++ start-up log lines and Beam's BigQuery notice (hidden by default).")
def main(verbose: bool) -> None:
    """Fetal head circumference (HC18) with a Keras EfficientNet-UNet and its TFLite edge model."""
    if not verbose:
        # Runs before any command imports TensorFlow or Beam (each imports them when it runs).
        quiet.quiet_tensorflow()
        quiet.quiet_library_notices()


_FLIP_TTA_HELP = ("Average with the horizontally flipped input (a .keras without it inside, "
                  "e.g. a run's best.keras: the released model has it inside).")


# `predict` and `evaluate` exit codes (docs/commands.md): 0 every image measured; 1 an error
# (for predict, none could be measured included), --out untouched; 2 a usage error (Click's);
# 3 some images unreadable, the others measured and written, the unreadable ones named on
# stderr and in unreadable.csv.
SOME_UNREADABLE = 3


@main.command()
@click.option("--model", "model_path", default=None, show_default="the released int8 model",
              help="A .keras or .tflite model.")
@click.option("--data-dir", required=True,
              help="A folder in the HC18 layout (training_set/ + its CSV) or a prepared TFDS data dir.")
@click.option("--out", "out_dir", required=True,
              help="Folder for per_image.csv, summary.json, evaluation.png, bland_altman.png "
                   "and unreadable.csv (new or empty).")
@click.option("--split", default="validation", show_default=True, help="TFDS split (TFDS data dirs only).")
@click.option("--validation-fraction", default=defaults.VALIDATION_FRACTION, show_default=True,
              type=float, help="The share of examinations the TFDS data dir was prepared to hold "
                               "out for validation (TFDS data dirs only; as given to prepare).")
@click.option("--flip-tta", is_flag=True, help=_FLIP_TTA_HELP)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (shown only when stderr is a terminal).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier evaluate run's outputs in --out.")
@click.option("--reference-csv", default=None,
              help="DICOM: --data-dir is a DICOM file or folder, scored against this CSV's "
                   "reference HCs (filename, head circumference (mm)); pixel sizes from the files.")
@errors.clean_errors
def evaluate(model_path, data_dir, out_dir, split, validation_fraction, flip_tta, quiet, overwrite,
             reference_csv):
    """Per-image HC, Dice and Hausdorff against the reference; summary and plots.

    Exit code 0: every image scored; 3: some unreadable or absent (listed in unreadable.csv),
    the others scored; 1: an error, --out left as it was.
    """
    from hc_tf.surfaces import evaluate as evaluate_lib
    from hc_tf.surfaces import hc18_folder
    from hc_tf import inference
    from hc_tf.io import out_dir as out_dir_lib
    from hc_tf.console import progress
    from hc_tf import models

    model_path = model_path or models.released_edge_model()
    if not reference_csv:
        hc18_folder.check_data_dir(data_dir)
    runner = inference.load_runner(model_path, flip_tta=flip_tta)
    total = None
    # --out as predict's: new or empty, or with --overwrite only evaluate's own outputs.
    outputs = out_dir_lib.Outputs(evaluate_lib.OUTPUT_NAMES)
    if reference_csv:
        from hc_tf.surfaces import dicom_evaluate
        t = time.time()
        with out_dir_lib.staged(out_dir, overwrite, outputs) as staging:
            summary, unreadable = dicom_evaluate.evaluate_dicom(
                runner, [data_dir], reference_csv, staging, show_progress=progress.wanted(quiet))
    else:
        unreadable = []
        if hc18_folder.is_hc18_folder(data_dir):
            samples = hc18_folder.samples_from_hc18_folder(data_dir, unreadable)
            total = hc18_folder.hc18_folder_size(data_dir)
        else:
            from hc_tf.train import data as data_lib
            samples = data_lib.load_samples(data_dir, split, validation_fraction)
        t = time.time()
        with out_dir_lib.staged(out_dir, overwrite, outputs) as staging:
            summary = evaluate_lib.evaluate(runner, samples, staging, show_progress=progress.wanted(quiet),
                                            total=total, unreadable=unreadable)
    missing = [] if reference_csv else hc18_folder.missing_images(unreadable)
    for entry in unreadable:
        if entry not in missing:
            text.echo_err(f"unreadable: {entry[1]}")
    if missing:  # a folder holding part of HC18: one line, not one per absent image
        text.echo_err(f"not found: {text.count(len(missing), 'image')} the CSV lists "
                      f"({os.path.basename(missing[0][0])} first) are not in "
                      f"{os.path.dirname(missing[0][0])}")
    text.echo_evaluation(summary, t, out_dir, unreadable=len(unreadable))
    if reference_csv:
        text.echo_reference_rows(summary["reference_csv"])
    else:
        note = evaluate_lib.in_sample_note(model_path, data_dir, getattr(runner, "sha256", None))
        if note:
            text.echo_err(note)
    if unreadable:  # predict's exit code 3: scored what it could, the rest listed
        click.get_current_context().exit(SOME_UNREADABLE)




def _patient_system(ctx, param, value):
    """--fhir-patient-system checked as it is parsed: a usage error before anything loads."""
    if value is None:
        return None
    from hc_tf.report import fhir
    try:
        return fhir.check_system(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _echo_dicom_notes(records) -> None:
    """On stderr: heads measured but without their SR, or without the FHIR subject asked for
    (tags, never values; the file name is the user's), and exams without their OB-GYN report
    (once an exam)."""
    exams_said = set()
    for record in records:
        d = record.get("dicom") or {}
        if d.get("sr_error"):
            text.echo_err(d["sr_error"])
        for note in d.get("fhir_notes", []):
            text.echo_err(f"{record['filename']}: {note}")
        if d.get("obgyn_sr_error") and d["obgyn_sr_error"] not in exams_said:
            exams_said.add(d["obgyn_sr_error"])
            text.echo_err(d["obgyn_sr_error"])


# Unknown options stay among INPUTS: with --beam they are Beam's pipeline options.
@main.command(cls=cli_inputs.DashInputsCommand, context_settings={"ignore_unknown_options": True})
@click.option("--model", "model_path", default=None, show_default="the released int8 model",
              help="A .keras or .tflite model.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--pixel-csv", default=None, help="HC18-style CSV: filename, pixel size (mm).")
@click.option("--pixel-size", default=None, type=float,
              help="One pixel size (mm) for every image (not needed for calibrated DICOM).")
@click.option("--out", "out_dir", required=True,
              help="Folder for submission.csv, report.csv/.json, exams.csv, overlays/, "
                   "unreadable.csv and, for DICOM inputs, sr/ and fhir/ (new or empty).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier predict run's outputs in --out.")
@click.option("--no-overlays", is_flag=True,
              help="Write no overlay PNGs (a batch's largest output and a quarter of its time "
                   "on HC18's images); the tables, SRs and FHIR are written as ever.")
@click.option("--flip-tta", is_flag=True, help=_FLIP_TTA_HELP)
@click.option("--allow-any-pixel-size", is_flag=True,
              help="Accept pixel sizes outside the plausible 0.01-2 mm.")
@click.option("--ga-weeks", default=None, metavar="W",
              help="GA from dating (LMP or an earlier scan) for every image (weeks, e.g. 27.4, "
                   "or 27+3): adds the HC centile and z-score to the report; never the GA "
                   "derived from the same HC. Per image: a ga_weeks column in --pixel-csv "
                   "(an exam column there groups images into exams.csv).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (shown only when stderr is a terminal).")
@click.option("--beam", is_flag=True,
              help="Run as an Apache Beam pipeline (.tflite only; [beam] extra): globs and "
                   "gs:// inputs allowed, Beam options such as --runner=... passed through "
                   "(write them --name=value); writes dead_letter.csv and shards/, no overlays.")
@click.option("--frame", default=None, type=click.IntRange(1), metavar="N",
              help="DICOM: measure frame N (1-based) of each file; default every frame.")
@click.option("--override-dicom-calibration", is_flag=True,
              help="DICOM: use --pixel-size/--pixel-csv even where the file's own calibration "
                   "differs or is refused (the report says so).")
@click.option("--fhir-patient-system", default=None, metavar="URI", callback=_patient_system,
              help="DICOM: the issuer of the files' PatientIDs, an absolute URI (urn:oid:<OID>, "
                   "or an http(s) URL): each FHIR Observation's subject is its PatientID under "
                   "it. Default: no subject (IssuerOfPatientID, free text, is never used).")
@errors.clean_errors
def predict(model_path, inputs, pixel_csv, pixel_size, out_dir, overwrite, no_overlays, flip_tta,
            allow_any_pixel_size, ga_weeks, quiet, beam, frame, override_dicom_calibration,
            fhir_patient_system):
    """Images (files or folders) -> HC18 submission CSV, a report (HC, GA, review flag;
    CSV and JSON) and overlay PNGs.

    Exit code 0: every image measured; 3: some unreadable (named, and listed in
    unreadable.csv), the others measured; 1: an error (no image measured included), --out
    left as it was.
    Put -- before the inputs when a name starts with '-' (options go before it).
    """
    from hc_tf import measure as measure_lib
    from hc_tf.surfaces import predict as predict_lib
    from hc_tf.console import progress
    from hc_tf.report import records as report_lib

    from hc_tf import models

    model_path = model_path or models.released_edge_model()
    common = dict(pixel_csv=pixel_csv, pixel_size_mm=pixel_size, overwrite=overwrite,
                  allow_implausible_pixel_size=allow_any_pixel_size, ga_weeks=ga_weeks)
    # Inputs after `--` are inputs, whatever their names (cli_inputs.DashInputsCommand).
    n_after = click.get_current_context().meta.get(cli_inputs.AFTER_DASHES, 0)
    inputs, after_dashes = list(inputs[:len(inputs) - n_after]), list(inputs[len(inputs) - n_after:])
    try:
        if beam:
            from hc_tf.surfaces import beam_predict
            inputs, pipeline_args = beam_predict.split_pipeline_args(inputs)
            inputs += after_dashes
            result = beam_predict.predict_files(model_path, inputs, out_dir, pipeline_args, **common)
            listing, extra = beam_predict.DEAD_LETTER_NAME, f"shards in {result.shards}"
        else:
            unknown = next((a for a in inputs if a.startswith("-") and not os.path.exists(a)), None)
            if unknown:
                raise click.NoSuchOption(unknown.split("=")[0])
            inputs += after_dashes
            result = predict_lib.predict_files(model_path, inputs, out_dir, flip_tta=flip_tta,
                                               show_progress=progress.wanted(quiet), frame=frame,
                                               override_dicom_calibration=override_dicom_calibration,
                                               fhir_patient_system=fhir_patient_system,
                                               overlays=not no_overlays, **common)
            listing = predict_lib.UNREADABLE_NAME
            folders = ([] if no_overlays else ["overlays"]) + [
                d for d in ("sr", "fhir") if os.path.isdir(os.path.join(out_dir, d))]  # DICOM's
            extra = ", ".join(f"{out_dir}/{d}/" for d in folders)
    except measure_lib.ImplausiblePixelSizeError as err:
        raise click.ClickException(input_names.printable_name(
            f"{err}; pass --allow-any-pixel-size to use it")) from None
    except predict_lib.NothingMeasuredError as err:
        for note in err.notes:
            text.echo_err(f"note: {note}")
        for _, error in err.unreadable:
            text.echo_err(f"unreadable: {error}")
        raise click.ClickException(input_names.printable_name(str(err))) from None
    for note in result.notes:
        text.echo_err(f"note: {note}")
    for _, error in result.unreadable:
        text.echo_err(f"unreadable: {error}")
    _echo_dicom_notes(result.records)
    counts = report_lib.summary_counts(result.records)
    unreadable = (f", {len(result.unreadable)} unreadable (listed in {out_dir}/{listing})"
                  if result.unreadable else "")
    written = ", ".join([f"{out_dir}/{name}" for name in ("submission.csv", "report.csv",
                                                          "report.json", "exams.csv")]
                        + ([extra] if extra else []))
    click.echo(f"{text.count(counts['images'], 'image')}, head found in {counts['found']}, "
               f"{counts['flagged']} flagged for review{unreadable} -> {written}")
    if result.unreadable:
        click.get_current_context().exit(SOME_UNREADABLE)

@main.command()
@click.option("--model", "model_path", default=None, show_default="the released int8 model",
              help="A .tflite (edge runtime, no TensorFlow) or .keras model.")
@click.option("--host", default=defaults.DEMO_HOST, show_default=True,
              help="Interface to serve on; 0.0.0.0 exposes the demo to the network.")
@click.option("--port", default=defaults.DEMO_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=None, type=click.IntRange(1), show_default="CPU cores",
              help="Most images measured at once (one TFLite interpreter each).")
@errors.clean_errors
def demo(model_path, host, port, workers):
    """Serve the web demo: upload an ultrasound image, get the fitted head ellipse and HC (mm)."""
    from hc_tf.surfaces import demo as demo_lib

    if not host.strip():
        raise click.BadParameter("empty; give an interface, e.g. 127.0.0.1 (the default)",
                                 param_hint="--host")
    warning = demo_lib.exposure_warning(host)
    if warning:
        text.echo_err(warning)
    try:
        demo_lib.serve(model_path, host=host, port=port, workers=workers)
    except ImportError as err:  # Gradio missing: say which extra to install
        raise click.ClickException(input_names.printable_name(str(err))) from None


# `hc-tf prepare|train|export|parity` (hc_tf/console/model_commands.py; TensorFlow is imported
# when they run)
main.add_command(model_commands.prepare)
main.add_command(model_commands.train)
main.add_command(model_commands.export)
main.add_command(model_commands.parity)

# `hc-tf node serve|status` (hc_tf/node/cli_lib.py; pynetdicom is imported when it serves)
main.add_command(node_cli.node)


if __name__ == "__main__":
    sys.exit(main())
