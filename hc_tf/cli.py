"""`hc-tf`: the command line. Each command imports what it needs, when it runs:
`evaluate`/`predict` on a `.tflite` model never import TensorFlow."""

from __future__ import annotations

import json
import os
import sys
import time

import click

import hc_tf
from hc_tf import __version__
from hc_tf.console import errors
from hc_tf.console import inputs as cli_inputs
from hc_tf import defaults
from hc_tf.console import quiet
from hc_tf.console import text, train_options
from hc_tf.console import tfds_build
from hc_tf.node import cli_lib as node_cli

DEFAULT_DATA_DIR = os.path.expanduser("~/hc-runs/tfds")
SAMPLE_DIR = hc_tf.SAMPLE_DIR


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hc-tf")
@click.option("--verbose", is_flag=True,
              help="Show TensorFlow's C++ start-up log lines (hidden by default).")
def main(verbose: bool) -> None:
    """Fetal head circumference (HC18) with a Keras EfficientNet-UNet and its TFLite edge model."""
    if not verbose:
        # Runs before any command imports TensorFlow (each imports it when it runs).
        quiet.quiet_tensorflow()


@main.command()
@click.option("--manual-dir", default=SAMPLE_DIR, show_default="the embedded sample",
              help="Folder with the HC18 release (training_set/, test_set/, the two CSVs).")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="TFDS data dir to write.")
@click.option("--validation-fraction", default=defaults.VALIDATION_FRACTION, show_default=True,
              type=float, help="Share of subjects held out for validation.")
@click.option("--skip-invalid", is_flag=True, help="Skip invalid files (report their count) instead of failing.")
@errors.clean_errors
def prepare(manual_dir, data_dir, validation_fraction, skip_invalid):
    """Build the HC18 TFDS dataset from a local copy of the release."""
    from hc_tf_datasets.hc18 import hc18_dataset_builder as hc18

    hc18.locate_sources(manual_dir)  # missing, empty or incomplete: one line, before any work
    builder = hc18.make_builder(data_dir, validation_fraction, skip_invalid)
    t = time.time()
    try:
        tfds_build.build(builder, manual_dir)
    except hc18.InvalidSourceError as err:
        raise click.ClickException(f"{err}\n(use --skip-invalid to build without them)") from None
    splits = {k: v.num_examples for k, v in builder.info.splits.items()}
    click.echo(f"HC18 prepared in {builder.data_dir} ({time.time() - t:.1f} s): {splits}")


@main.command()
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="Prepared TFDS data dir.")
@click.option("--manual-dir", default=None, help="Prepare from this HC18 release first (if not prepared).")
@click.option("--sample", is_flag=True, help="Train on the embedded sample (prepared on the fly).")
@click.option("--run-dir", required=True, type=click.Path(file_okay=False),
              help="Run directory (created; an existing one of this run resumes).")
@click.option("--epochs", default=defaults.EPOCHS, show_default=True)
@click.option("--batch-size", default=defaults.BATCH_SIZE, show_default=True)
@click.option("--input-size", default=text.size_text(defaults.INPUT_HW), show_default=True,
              help="HEIGHTxWIDTH, multiples of 32.")
@click.option("--backbone", default=defaults.DEFAULT_BACKBONE, show_default=True,
              type=click.Choice(defaults.BACKBONES),
              help="efficientnetliteN: EfficientNet-Lite, ReLU6, no squeeze-excitation (int8-"
                   f"friendly); {defaults.LITE_BACKBONE} is the edge model's, 1 and 2 wider.")
@click.option("--precision", default=defaults.DEFAULT_PRECISION, show_default=True,
              type=click.Choice(defaults.PRECISIONS))
@click.option("--lr", default=defaults.LEARNING_RATE, show_default=True, help="Peak learning rate.")
@click.option("--lr-schedule", default=defaults.DEFAULT_LR_SCHEDULE, show_default=True,
              type=click.Choice(defaults.LR_SCHEDULES))
@click.option("--seed", default=0, show_default=True)
@click.option("--validation-fraction", default=defaults.VALIDATION_FRACTION, show_default=True,
              type=float)
@click.option("--steps-per-epoch", default=None, type=int, help="Cap steps per epoch (quick runs).")
@click.option("--no-augmentation", is_flag=True)
@click.option("--decoder-filters", default=text.filters_text(defaults.DEFAULT_DECODER_FILTERS),
              show_default=True,
              help="UNet decoder widths, comma-separated (B0's original: 256,128,64,32,16).")
@click.option("--small", is_flag=True,
              help=f"A tiny decoder, {text.filters_text(defaults.SMALL_DECODER_FILTERS)} "
                   "(quick demo runs).")
@click.option("--encoder-weights", default=None,
              help="Pretrained encoder weights (.npz from python -m hc_tf.modeling.lite_pytorch_weights).")
@click.option("--init-from", default=None,
              help="Start from this .keras model's weights (fine-tune; same backbone and decoder).")
@click.option("--distribute", default="none", show_default=True,
              type=click.Choice(defaults.DISTRIBUTE_MODES),
              help="Data-parallel training: mirrored = all local GPUs; multi-worker = the hosts "
                   "named in TF_CONFIG (run the same command on each). --batch-size is then per "
                   "replica; BatchNormalization is synchronized. --lr is not rescaled.")
@click.option("--folds", default=0, show_default=True,
              help="Cross-validation: N folds by subject (0: the train/validation split).")
@click.option("--fold", default=0, show_default=True,
              help="With --folds: train on the other folds, keep the last epoch; this fold is held out.")
@train_options.recipe_options
@errors.clean_errors
def train(data_dir, manual_dir, sample, run_dir, epochs, batch_size, input_size, backbone, precision,
          lr, lr_schedule, seed, validation_fraction, steps_per_epoch, no_augmentation,
          decoder_filters, small, encoder_weights, init_from, distribute, folds, fold, **levers):
    """Train the EfficientNet-UNet; keeps the best model by validation ADF."""
    from hc_tf.train import fit as train_lib

    if distribute == "multi-worker" and (sample or manual_dir):
        # Preparing runs TensorFlow ops, and the collective service must start first; and
        # every worker would build the same dataset at once.
        raise click.ClickException("--distribute multi-worker trains on a prepared --data-dir: "
                                   "run `hc-tf prepare` once first (not --sample/--manual-dir)")
    if sample or manual_dir:
        if sample:
            data_dir = os.path.join(run_dir + "_data")
        tfds_build.ensure_prepared(manual_dir or SAMPLE_DIR, data_dir, validation_fraction)
    config = train_lib.TrainConfig(
        data_dir=data_dir, run_dir=run_dir, epochs=epochs, batch_size=batch_size,
        input_hw=text.parse_size(input_size), backbone=backbone, precision=precision, learning_rate=lr,
        lr_schedule=lr_schedule, seed=seed, validation_fraction=validation_fraction,
        augmentation=not no_augmentation, steps_per_epoch=steps_per_epoch,
        decoder_filters=(defaults.SMALL_DECODER_FILTERS if small
                         else text.parse_filters(decoder_filters)),
        encoder_weights=encoder_weights,
        init_from=os.path.abspath(init_from) if init_from else None, distribute=distribute,
        folds=folds, fold=fold, **levers)  # train_options.recipe_options
    best = train_lib.train(config)
    if not best and distribute == "multi-worker":
        click.echo("worker done (the chief writes the run directory)")
        return
    kept = f"kept (last epoch), {'held-out fold' if folds else 'trained-on'}" if config.fixed_schedule else "best"
    click.echo(f"{kept}: epoch {best.get('epoch')}, validation ADF {best.get('val_adf_mm', float('nan')):.2f} mm"
               f" -> {os.path.join(run_dir, 'best.keras')}")


_FLIP_TTA_HELP = ("Average with the horizontally flipped input (a .keras without it inside, "
                  "e.g. a run's best.keras: the released model has it inside).")


@main.command()
@click.option("--model", "model_path", default=None, show_default="the released int8 model",
              help="A .keras or .tflite model.")
@click.option("--data-dir", required=True,
              help="A folder in the HC18 layout (training_set/ + its CSV) or a prepared TFDS data dir.")
@click.option("--out", "out_dir", required=True,
              help="Folder for per_image.csv, summary.json, evaluation.png (new or empty).")
@click.option("--split", default="validation", show_default=True, help="TFDS split (TFDS data dirs only).")
@click.option("--validation-fraction", default=defaults.VALIDATION_FRACTION, show_default=True,
              type=float)
@click.option("--flip-tta", is_flag=True, help=_FLIP_TTA_HELP)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (shown only when stderr is a terminal).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier evaluate run's outputs in --out.")
@click.option("--reference-csv", default=None,
              help="DICOM: --data-dir is a DICOM file or folder, scored against this CSV's "
                   "reference HCs (filename, head circumference (mm)); pixel sizes from the files.")
@errors.clean_errors
def evaluate(model_path, data_dir, out_dir, split, validation_fraction, flip_tta, quiet, overwrite,
             reference_csv):
    """Per-image HC, Dice and Hausdorff against the reference; summary and plots."""
    from hc_tf.surfaces import evaluate as evaluate_lib
    from hc_tf import inference
    from hc_tf.io import out_dir as out_dir_lib
    from hc_tf.console import progress
    from hc_tf import models

    model_path = model_path or models.released_edge_model()
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
        if evaluate_lib.is_hc18_folder(data_dir):
            samples = evaluate_lib.samples_from_hc18_folder(data_dir, unreadable)
            total = evaluate_lib.hc18_folder_size(data_dir)
        else:
            from hc_tf.train import data as data_lib
            samples = data_lib.load_samples(data_dir, split, validation_fraction)
        t = time.time()
        with out_dir_lib.staged(out_dir, overwrite, outputs) as staging:
            summary = evaluate_lib.evaluate(runner, samples, staging, show_progress=progress.wanted(quiet),
                                            total=total, unreadable=unreadable)
    for _, error in unreadable:
        click.echo(f"unreadable: {error}", err=True)
    text.echo_evaluation(summary, t, out_dir, unreadable=len(unreadable))
    if reference_csv:
        text.echo_reference_rows(summary["reference_csv"])
    else:
        note = evaluate_lib.in_sample_note(model_path, data_dir, getattr(runner, "sha256", None))
        if note:
            click.echo(note, err=True)


# `predict` exit codes (docs/commands.md): 0 every image measured; 1 an error, --out
# untouched; 2 a usage error (Click's); 3 some images unreadable, the others measured
# and written, the unreadable ones named on stderr and in unreadable.csv.
PREDICT_SOME_UNREADABLE = 3


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
    (tags, never values; the file name is the user's)."""
    for record in records:
        d = record.get("dicom") or {}
        if d.get("sr_error"):
            click.echo(d["sr_error"], err=True)
        for note in d.get("fhir_notes", []):
            click.echo(f"{record['filename']}: {note}", err=True)


# Unknown options stay among INPUTS: with --beam they are Beam's pipeline options.
@main.command(cls=cli_inputs.DashInputsCommand, context_settings={"ignore_unknown_options": True})
@click.option("--model", "model_path", default=None, show_default="the released int8 model",
              help="A .keras or .tflite model.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--pixel-csv", default=None, help="HC18-style CSV: filename, pixel size (mm).")
@click.option("--pixel-size", default=None, type=float,
              help="One pixel size (mm) for every image (not needed for calibrated DICOM).")
@click.option("--out", "out_dir", required=True,
              help="Folder for submission.csv, report.csv/.json, overlays/ and unreadable.csv "
                   "(new or empty).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier predict run's outputs in --out.")
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
def predict(model_path, inputs, pixel_csv, pixel_size, out_dir, overwrite, flip_tta,
            allow_any_pixel_size, ga_weeks, quiet, beam, frame, override_dicom_calibration,
            fhir_patient_system):
    """Images (files or folders) -> HC18 submission CSV, a report (HC, GA, review flag;
    CSV and JSON) and overlay PNGs.

    Exit code 0: every image measured; 3: some unreadable (named, and listed in
    unreadable.csv), the others measured; 1: an error, --out left as it was.
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
                                               fhir_patient_system=fhir_patient_system, **common)
            listing, extra = predict_lib.UNREADABLE_NAME, f"{out_dir}/overlays/"
            extra += "".join(f", {out_dir}/{d}/" for d in ("sr", "fhir")  # DICOM inputs' SR, FHIR
                             if os.path.isdir(os.path.join(out_dir, d)))
    except measure_lib.ImplausiblePixelSizeError as err:
        raise click.ClickException(f"{err}; pass --allow-any-pixel-size to use it") from None
    for _, error in result.unreadable:
        click.echo(f"unreadable: {error}", err=True)
    _echo_dicom_notes(result.records)
    counts = report_lib.summary_counts(result.records)
    unreadable = (f", {len(result.unreadable)} unreadable (listed in {out_dir}/{listing})"
                  if result.unreadable else "")
    click.echo(f"{text.count(counts['images'], 'image')}, head found in {counts['found']}, "
               f"{counts['flagged']} flagged for review{unreadable} -> {out_dir}/submission.csv, "
               f"{out_dir}/report.csv, {out_dir}/report.json, {out_dir}/exams.csv, {extra}")
    if result.unreadable:
        click.get_current_context().exit(PREDICT_SOME_UNREADABLE)


@main.command()
@click.option("--model", "model_path", default=defaults.KERAS_MODEL, show_default=True)
@click.option("--int8", "mode", flag_value="int8", help="Full-integer post-training quantization.")
@click.option("--float16", "mode", flag_value="float16", help="float16 weights.")
@click.option("--dynamic", "mode", flag_value="dynamic", help="Dynamic-range (int8 weights) quantization.")
@click.option("--float32", "mode", flag_value="float32", default=True, help="Plain float32 (default).")
@click.option("--io", "io_dtype", default=defaults.DEFAULT_IO_DTYPE, show_default=True,
              type=click.Choice(defaults.IO_DTYPES), help="Input/output type.")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True,
              help="Prepared TFDS data dir: int8 calibration images come from its train split.")
@click.option("--calibration-samples", default=defaults.CALIBRATION_SAMPLES, show_default=True,
              help="int8 calibration images (all of the split when it has fewer).")
@click.option("--seed", default=0, show_default=True)
@click.option("--bias-correction/--no-bias-correction", default=True, show_default=True,
              help="int8: correct the head's mean quantization bias on calibration images.")
@click.option("--out", "out_path", default=None, help="Output .tflite (default: next to the model).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out and its metadata JSON.")
@click.option("--validation-summary", default=None, type=click.Path(exists=True, dir_okay=False),
              help="summary.json of `hc-tf evaluate` on the source model: recorded in the metadata.")
@click.option("--cross-validation-summary", default=None,
              type=click.Path(exists=True, dir_okay=False),
              help="A model trained on all labelled images (no held-out image left): the "
                   "cv_summary.json of its recipe's folds (hc_tf.surfaces.cv_report), recorded "
                   "instead of --validation-summary.")
@errors.clean_errors
def export(model_path, mode, io_dtype, data_dir, calibration_samples, seed, bias_correction,
           out_path, overwrite, validation_summary, cross_validation_summary):
    """Convert the Keras model to TFLite (+ metadata JSON); report the op set."""
    from hc_tf.export import export_lib as lite
    from hc_tf.export import metadata as lite_metadata
    from hc_tf.export import op_report as lite_ops

    if validation_summary and cross_validation_summary:
        raise click.UsageError("give --validation-summary or --cross-validation-summary, not both")
    validation, training_data = None, lite_metadata.TRAINING_DATA
    summary = validation_summary or cross_validation_summary
    if summary:
        try:
            with open(summary, encoding="utf-8") as f:
                figures = json.load(f)
        except ValueError as err:
            raise click.ClickException(f"{summary}: not a JSON summary ({err})") from None
        if cross_validation_summary:
            validation = {"cross_validated": figures, "file": summary,
                          "note": "out-of-fold figures of this model's recipe (5 folds by "
                                  "subject); this model was trained on every labelled image, "
                                  "so none is held out for its own figures"}
            training_data = lite_metadata.TRAINING_DATA_ALL
        else:
            validation = {"source_model_summary": figures, "file": summary}

    suffix = "" if mode == "float32" else f"_{mode}"
    out_path = out_path or os.path.splitext(model_path)[0] + suffix + ".tflite"
    # Before the model is loaded: `--out M.keras` wrote the TFLite over the source model.
    if not out_path.endswith(".tflite"):
        raise click.BadParameter(f"{out_path}: not a .tflite file name (the model and its "
                                 "metadata are written as NAME.tflite and NAME.json)",
                                 param_hint="--out")
    existing = [p for p in (out_path, lite_metadata.metadata_path(out_path)) if os.path.lexists(p)]
    if existing and not overwrite:
        raise click.ClickException(f"{existing[0]}: exists; pass --overwrite to replace "
                                   f"{' and '.join(existing)}")
    try:
        report = lite.export(model_path, out_path, mode, data_dir=data_dir if mode == "int8" else None,
                             n_calibration=calibration_samples, seed=seed, io_dtype=io_dtype,
                             validation=validation, bias_correction=bias_correction,
                             training_data=training_data)
    except lite_ops.FloatOpsError as err:
        raise click.ClickException(str(err)) from None
    ops = ", ".join(f"{k} x{v}" for k, v in sorted(report["ops"].items()))
    click.echo(f"{out_path}: {report['size_mb']:.2f} MB, {mode}, io {io_dtype}; ops: {ops}; "
               f"float tensors: {len(report['float_tensors'])}")
    fix = (report.get("calibration") or {}).get("head_bias_correction")
    if fix and fix["logit_gap_before"] is not None:
        gap, shifted = fix["logit_gap_before"], fix["logit_gap_shifted"]
        if fix["applied"]:
            outcome = f"-> {fix['logit_gap_after']:+.4f}"
        elif shifted is not None:
            outcome = f"not applied (shifted model {shifted:+.4f}, no smaller)"
        else:
            outcome = "not applied (nothing to correct)"
        click.echo(f"head bias correction: logit gap {gap:+.4f} {outcome} on {fix['images']} "
                   "calibration images")


@main.command()
@click.option("--model", "keras_path", required=True, help="The full .keras model.")
@click.option("--tflite", "tflite_path", required=True, help="The edge .tflite model.")
@click.option("--data-dir", required=True, help="HC18-layout folder or prepared TFDS data dir.")
@click.option("--split", default="validation", show_default=True)
@click.option("--limit", default=None, type=int, help="Only the first N images.")
@click.option("--out", "out_dir", required=True,
              help="Folder for parity_per_image.csv and parity_summary.json (new or empty).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier parity run's outputs in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (shown only when stderr is a terminal).")
@errors.clean_errors
def parity(keras_path, tflite_path, data_dir, split, limit, out_dir, overwrite, quiet):
    """Full vs edge model on the same images, through the same measurement."""
    import itertools
    from hc_tf.surfaces import evaluate as evaluate_lib
    from hc_tf.export import parity as parity_lib
    from hc_tf.io import out_dir as out_dir_lib
    from hc_tf.console import progress

    # --out as evaluate's: new or empty, or with --overwrite only parity's own outputs.
    with out_dir_lib.staged(out_dir, overwrite, out_dir_lib.Outputs(parity_lib.OUTPUT_NAMES)
                            ) as staging:
        if evaluate_lib.is_hc18_folder(data_dir):
            samples = list(itertools.islice(evaluate_lib.samples_from_hc18_folder(data_dir), limit))
        else:
            from hc_tf.train import data as data_lib
            samples = data_lib.load_samples(data_dir, split)[:limit]
        summary = parity_lib.run_parity(keras_path, tflite_path, samples, staging,
                                        show_progress=progress.wanted(quiet), report_dir=out_dir)
    click.echo(json.dumps(summary, indent=2))


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
        click.echo(warning, err=True)
    try:
        demo_lib.serve(model_path, host=host, port=port, workers=workers)
    except ImportError as err:  # Gradio missing: say which extra to install
        raise click.ClickException(str(err)) from None


# `hc-tf node serve|status` (hc_tf/node/cli_lib.py; pynetdicom is imported when it serves)
main.add_command(node_cli.node)


if __name__ == "__main__":
    sys.exit(main())
