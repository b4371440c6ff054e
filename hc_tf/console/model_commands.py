"""`hc-tf prepare|train|export|parity`: the commands that make a model and check its edge
version, from the HC18 release to the int8 TFLite. cli.py adds them to the `hc-tf` group. Each
imports TensorFlow (TFDS, Keras, the converter) when it runs, not when it is imported."""

from __future__ import annotations

import json
import os
import time

import click

import hc_tf
from hc_tf import defaults
from hc_tf.console import errors, text, tfds_build, train_options

DEFAULT_DATA_DIR = os.path.expanduser("~/hc-runs/tfds")
SAMPLE_DIR = hc_tf.SAMPLE_DIR


@click.command()
@click.option("--manual-dir", default=SAMPLE_DIR, show_default="the embedded sample",
              help="Folder with the HC18 release (training_set/, test_set/, the two CSVs).")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="TFDS data dir to write.")
@click.option("--validation-fraction", default=defaults.VALIDATION_FRACTION, show_default=True,
              type=float, help="Share of subjects held out for validation.")
@click.option("--skip-invalid", is_flag=True, help="Skip invalid files (report their count) instead of failing.")
@errors.clean_errors
def prepare(manual_dir, data_dir, validation_fraction, skip_invalid):
    """Build the HC18 TFDS dataset from a local copy of the release."""
    from hc_tf_datasets.hc18 import prepared, sources

    sources.locate_sources(manual_dir)  # missing, empty or incomplete: one line, before any work
    builder = prepared.make_builder(data_dir, validation_fraction, skip_invalid)
    if builder.is_prepared():  # TFDS would build nothing: say so, and from what
        tfds_build.check_source(builder, manual_dir)
        splits = {k: v.num_examples for k, v in builder.info.splits.items()}
        click.echo(f"HC18 already prepared in {builder.data_dir}: {splits}")
        return
    t = time.time()
    try:
        tfds_build.build(builder, manual_dir)
    except sources.InvalidSourceError as err:
        raise click.ClickException(f"{err}\n(use --skip-invalid to build without them)") from None
    splits = {k: v.num_examples for k, v in builder.info.splits.items()}
    click.echo(f"HC18 prepared in {builder.data_dir} ({time.time() - t:.1f} s): {splits}")


@click.command()
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
@click.option("--seed", default=0, show_default=True,
              help="Seeds the decoder's initial weights, the augmentation and the data order.")
@click.option("--validation-fraction", default=defaults.VALIDATION_FRACTION, show_default=True,
              type=float, help="Share of examinations held out for validation (as prepared).")
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
              help="Cross-validation: N folds by examination, HC18's file prefix (0: the "
                   "train/validation split).")
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
    if not encoder_weights and not init_from:
        click.echo("note: the encoder starts from random weights; the released recipe starts from "
                   "ImageNet (--encoder-weights: docs/reproducing.md, section 3)", err=True)
    best = train_lib.train(config)
    if not best and distribute == "multi-worker":
        click.echo("worker done (the chief writes the run directory)")
        return
    kept = f"kept (last epoch), {'held-out fold' if folds else 'trained-on'}" if config.fixed_schedule else "best"
    click.echo(f"{kept}: epoch {best.get('epoch')}, validation ADF {best.get('val_adf_mm', float('nan')):.2f} mm"
               f" -> {os.path.join(run_dir, 'best.keras')}")



@click.command()
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
            # The summary's file name only: a path would record the build machine's folders.
            validation = {"cross_validated": figures, "file": os.path.basename(summary),
                          "note": "out-of-fold figures of this model's recipe (5 folds by "
                                  "subject); this model was trained on every labelled image, "
                                  "so none is held out for its own figures"}
            training_data = lite_metadata.TRAINING_DATA_ALL
        else:
            validation = {"source_model_summary": figures, "file": os.path.basename(summary)}

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


@click.command()
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
    from hc_tf.surfaces import hc18_folder
    from hc_tf.export import parity as parity_lib
    from hc_tf.io import out_dir as out_dir_lib
    from hc_tf.console import progress

    # --out as evaluate's: new or empty, or with --overwrite only parity's own outputs.
    with out_dir_lib.staged(out_dir, overwrite, out_dir_lib.Outputs(parity_lib.OUTPUT_NAMES)
                            ) as staging:
        if hc18_folder.is_hc18_folder(data_dir):
            samples = list(itertools.islice(hc18_folder.samples_from_hc18_folder(data_dir), limit))
        else:
            from hc_tf.train import data as data_lib
            samples = data_lib.load_samples(data_dir, split)[:limit]
        summary = parity_lib.run_parity(keras_path, tflite_path, samples, staging,
                                        show_progress=progress.wanted(quiet), report_dir=out_dir)
    click.echo(json.dumps(summary, indent=2))
