"""`hc-tf predict --beam`: the same measurement as `hc-tf predict`, as an Apache Beam pipeline.

The launcher (this process) lists the images and reads the pixel-size table with predict's
own `read_inputs` (same checks, same refusals, before anything runs). The pipeline measures
each image in `MeasureFn`, whose `setup()` loads the `.tflite` model once per worker (the
TF-free edge runtime), and writes JSON-lines shards; one bad file becomes a dead letter
(path, error), never a failed pipeline. The launcher then merges the shards into
submission.csv, report.csv, report.json and dead_letter.csv with predict's own row builders
and writers, in predict's order. Pipeline options (`--runner=...`) pass straight to Beam, so
the pipeline runs unchanged on the DirectRunner, Flink, Spark or Dataflow.

Needs the [beam] extra: importing this module imports apache_beam.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import difflib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options import pipeline_options as pipeline_options_module
from apache_beam.options.pipeline_options import PipelineOptions

from hc_tf import edge
from hc_tf import inference
from hc_tf.io import images
from hc_tf.io import out_dir as out_dir_lib
from hc_tf.report import exams as exams_lib
from hc_tf.surfaces import predict as predict_lib
from hc_tf.surfaces import predict_inputs

DEAD_LETTER = "dead_letter"  # the DoFn's tagged output
DEAD_LETTER_NAME = "dead_letter.csv"
SHARDS_NAME = "shards"
MEASURED_PREFIX = "measured"
OUTPUT_NAMES = frozenset({predict_lib.SUBMISSION_NAME, predict_lib.REPORT_CSV_NAME,
                          predict_lib.REPORT_JSON_NAME, exams_lib.EXAMS_NAME, DEAD_LETTER_NAME,
                          SHARDS_NAME})
# What --overwrite may replace: the tables, and shards/ of Beam's WriteToText names.
_SHARD_FILE = re.compile(rf"({MEASURED_PREFIX}|{DEAD_LETTER})-\d+-of-\d+\.jsonl")
BEAM_OUTPUTS = out_dir_lib.Outputs(OUTPUT_NAMES - {SHARDS_NAME},
                                   {SHARDS_NAME: lambda n: bool(_SHARD_FILE.fullmatch(n))},
                                   {SHARDS_NAME: "<measured|dead_letter>-N-of-M.jsonl"})


class ImageTask(NamedTuple):
    """One image to measure: its place in predict's order, path, pixel size and known GA."""

    index: int
    path: str
    pixel_size_mm: float
    known_ga_weeks: Optional[float]
    allow_implausible_pixel_size: bool = False  # --allow-any-pixel-size


@dataclasses.dataclass
class BeamResult:
    """What the pipeline measured (report records, in order) and its dead letters."""

    records: List[Dict[str, Any]]
    unreadable: List[Tuple[str, str]]  # (path, error), as predict's unreadable list
    shards: str  # where the sharded results are
    notes: List[str] = dataclasses.field(default_factory=list)  # about the inputs, as predict's


def split_pipeline_args(args: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Separates Beam pipeline options (`--name=value`, `--flag`) from the image inputs.

    Args:
      args: predict's INPUTS with the options Click did not know left among them.

    Returns:
      (inputs, pipeline options).

    Raises:
      ValueError: for an option written `--name value`: its value would be read as an input.
    """
    inputs: List[str] = []
    options: List[str] = []
    previous = ""
    for arg in args:
        if arg.startswith("-"):
            options.append(arg)
        elif (previous.startswith("--") and "=" not in previous and not os.path.exists(arg)
              and not any(c in arg for c in "*?[:")):  # not a glob or a gs:// path either
            raise ValueError(f"{arg}: no such file or folder; write Beam pipeline options as "
                             f"{previous}={arg}")
        else:
            inputs.append(arg)
        previous = arg
    return inputs, options


def match_paths(pattern: str) -> List[str]:
    """The files a glob or remote path (gs://, s3://, hdfs://) names, via Beam's FileSystems.

    Args:
      pattern: a glob, or a path no local file answers to.

    Returns:
      The matching paths (none when nothing matches).
    """
    try:
        (result,) = FileSystems.match([pattern])
    except IOError:  # BeamIOError: nothing there (a missing filesystem's ValueError says so)
        return []
    return [m.path for m in result.metadata_list]


def check_model(model_path: str) -> None:
    """Refuses what Beam mode cannot run, before the pipeline starts.

    Beam mode runs the TF-free edge runtime only: workers then need the base install and
    apache-beam, not TensorFlow, and load a model in a second. A local model is loaded once
    here so a corrupt one fails now, with predict's message.

    Raises:
      ValueError: for a model that is not a `.tflite`, is missing or does not load.
    """
    if not model_path.endswith(".tflite"):
        raise ValueError(f"{model_path}: --beam runs the edge runtime: give a .tflite model "
                         f"(hc-tf export), or run predict without --beam")
    if os.path.exists(model_path) or not FileSystems.exists(model_path):
        inference.load_runner(model_path)


def local_model(model_path: str) -> str:
    """`model_path` itself when it is a local file, else a local copy (with its metadata
    JSON when there is one) made through Beam's FileSystems: a worker on Dataflow or a
    cluster reads the model from gs:// or HDFS.
    """
    if os.path.isfile(model_path):
        return model_path
    folder = tempfile.mkdtemp(prefix="hc-tf-model-")
    copy = os.path.join(folder, "model.tflite")
    sources = [(model_path, copy)]
    meta = edge.metadata_path(model_path)  # as the runtime finds it
    if FileSystems.exists(meta):
        sources.append((meta, os.path.join(folder, "model.json")))
    for source, dest in sources:
        with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as f_in, \
                open(dest, "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)
    return copy


def read_image(path: str):
    """One image, bounded as every reader's (`hc_tf.io.images`): a local path directly (regular
    files only, never a FIFO or /dev/zero), any other through Beam's FileSystems, its size
    checked from the listing and its read bounded.

    Raises:
      OSError, ValueError: naming the file.
    """
    if os.path.exists(path) or not FileSystems.exists(path):
        return images.read_gray_image(path)
    limit = images.max_input_bytes()
    (result,) = FileSystems.match([path])
    for meta in result.metadata_list:
        if meta.size_in_bytes > limit:
            raise ValueError(f"{path}: file too large ({meta.size_in_bytes} bytes; at most "
                             f"{limit}, see {images.BYTES_ENV})")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = images.read_bounded(f, path, limit)
    return images.decode_gray(data, path)


def measure_task(runner: inference.Runner, task: ImageTask) -> Dict[str, Any]:
    """Reads and measures one image: predict's submission row and report record.

    Args:
      runner: the model runner.
      task: the image.

    Returns:
      {"index", "submission": row, "record": report record} (JSON-ready).

    Raises:
      OSError, ValueError: for a file that can't be read or decoded, or can't be measured.
    """
    image = read_image(task.path)
    name = os.path.basename(task.path)
    (pred,) = inference.predict_batch(runner, [inference.Sample(
        name, image, task.pixel_size_mm,
        allow_implausible_pixel_size=task.allow_implausible_pixel_size)])
    row, record = predict_lib.image_rows(name, pred.measurement, task.known_ga_weeks)
    return {"index": task.index, "submission": row, "record": record}


class MeasureFn(beam.DoFn):
    """ImageTask -> measured row, or a dead letter (index, path, error) tagged DEAD_LETTER."""

    def __init__(self, model_path: str):
        super().__init__()
        self._model_path = model_path
        self._runner: Optional[inference.Runner] = None

    def setup(self) -> None:
        # Once per worker (DoFn instance), not per bundle or element. One interpreter thread:
        # Beam runs one worker per core.
        self._runner = inference.load_runner(local_model(self._model_path), num_threads=1)

    def process(self, task: ImageTask) -> Iterator[Any]:
        try:
            yield measure_task(self._runner, task)
        except Exception as err:  # one file never ends the run
            reason = (predict_lib.unreadable_reason(task.path, err)
                      if isinstance(err, (OSError, ValueError))
                      else f"{task.path}: {type(err).__name__}: {err}")
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, {"index": task.index, "path": task.path, "error": reason})


def build_pipeline(pipeline: beam.Pipeline, tasks: Sequence[ImageTask], model_path: str,
                   shards: str) -> None:
    """Adds the measuring and the sharded writes to `pipeline`.

    Args:
      pipeline: a new pipeline.
      tasks: the images, in predict's order.
      model_path: the `.tflite` model, readable by every worker.
      shards: folder (local, or any Beam filesystem) for the JSON-lines shards.
    """
    results = (pipeline
               | "Images" >> beam.Create(tasks)
               | "Spread" >> beam.Reshuffle()  # one bundle from Create: let every worker share it
               | "Measure" >> beam.ParDo(MeasureFn(model_path)).with_outputs(DEAD_LETTER,
                                                                             main="measured"))
    for tag, prefix in (("measured", MEASURED_PREFIX), (DEAD_LETTER, DEAD_LETTER)):
        _ = (results[tag]
             | f"{tag} to JSON" >> beam.Map(json.dumps)
             | f"Write {tag}" >> beam.io.WriteToText(FileSystems.join(shards, prefix),
                                                     file_name_suffix=".jsonl"))


def read_shards(shards: str, prefix: str) -> List[Dict[str, Any]]:
    """The JSON lines of every `<shards>/<prefix>-*.jsonl`, sorted by their index."""
    out = []
    for path in sorted(match_paths(FileSystems.join(shards, f"{prefix}-*.jsonl"))):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            out += [json.loads(line) for line in f.read().decode("utf-8").splitlines() if line]
    return sorted(out, key=lambda item: item["index"])


def unknown_pipeline_options(args: Sequence[str]) -> str:
    """"" when Beam knows every option in `args`, else one line naming the first it does not
    (with the nearest known name): Beam itself only warns and runs with its defaults, so a
    typo such as --runnr=FlinkRunner would run locally."""
    # How PipelineOptions.get_all_options builds its parser (every options class it knows).
    parser = pipeline_options_module._BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(list(args))
    if not unknown:
        return ""
    name = unknown[0].split("=", 1)[0]
    known = [opt for action in parser._actions for opt in action.option_strings]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown option {name}{hint} (Beam would ignore it and run with its defaults)"


def pipeline_options(args: Sequence[str]) -> PipelineOptions:
    """Beam's PipelineOptions of `args`, parsed now so a bad value fails before any work.

    Raises:
      ValueError: one line, for a value Beam's parser refuses (instead of its usage dump).
    """
    options = PipelineOptions(list(args))
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            options.get_all_options()
    except SystemExit:  # argparse's error(): usage and the message on stderr, then exit
        lines = captured.getvalue().strip().splitlines() or ["invalid pipeline options"]
        raise ValueError(f"Beam pipeline options: {lines[-1].split('error: ', 1)[-1]}") from None
    unknown = unknown_pipeline_options(args)  # after the values: those errors come first
    if unknown:
        raise ValueError(f"Beam pipeline options: {unknown}")
    return options


def shards_location(options: PipelineOptions, staging: str) -> str:
    """Under --temp_location when given (shared storage that remote workers can write to,
    e.g. gs://), else `<out>/shards`."""
    temp = options.get_all_options().get("temp_location")
    if temp:
        return FileSystems.join(temp, f"hc-tf-predict-{uuid.uuid4().hex[:12]}")
    return os.path.join(staging, SHARDS_NAME)


_beam_temp: Optional[str] = None  # this process's folder for Beam's temporary folders


@contextlib.contextmanager
def beam_temp_folder() -> Iterator[str]:
    """Points the system temp folder at one private folder of this process while Beam runs.

    Beam's runner (Prism, apache-beam 2.7x, the default and --runner=DirectRunner alike) makes
    folders there and leaves them: its job server's, which lives until the process exits, and
    the SDK's dependency staging, a few a run. They hold no image data, but a temp folder left
    behind per run is litter on a shared machine. The folder is removed at exit, after the job
    server's own cleanup (atexit calls the latest registered first).
    """
    global _beam_temp
    if _beam_temp is None:
        _beam_temp = tempfile.mkdtemp(prefix="hc-tf-beam-")
        atexit.register(shutil.rmtree, _beam_temp, ignore_errors=True)
    previous, tempfile.tempdir = tempfile.tempdir, _beam_temp
    try:
        yield _beam_temp
    finally:
        tempfile.tempdir = previous


def run_pipeline(tasks: Sequence[ImageTask], model_path: str, shards: str,
                 options: PipelineOptions) -> None:
    """Runs the pipeline to completion.

    Raises:
      ValueError: one line, when the pipeline itself fails (bad options, a worker that
        cannot load the model); single bad files never make it fail.
    """
    try:
        with beam_temp_folder(), beam.Pipeline(options=options) as pipeline:
            build_pipeline(pipeline, tasks, model_path, shards)
    except Exception as err:  # runner errors have no common base
        first = (str(err).strip().splitlines() or [""])[0]
        raise ValueError(f"the Beam pipeline failed: {type(err).__name__}: {first}") from err


def predict_files(model_path: str, inputs: Sequence[str], out_dir: str,
                  pipeline_args: Sequence[str] = (), pixel_csv: Optional[str] = None,
                  pixel_size_mm: Optional[float] = None, overwrite: bool = False,
                  allow_implausible_pixel_size: bool = False,
                  ga_weeks: Optional[str] = None) -> BeamResult:
    """`predict.predict_files` on Beam: writes submission.csv, report.csv, report.json,
    dead_letter.csv (path, error) and the shards (`<out>/shards`, or under --temp_location)
    into `out_dir`, all from this run. No overlays: bulk scoring writes tables only.

    Args:
      model_path: a `.tflite` model (local, or on a filesystem Beam reads, e.g. gs://).
      inputs: image files, folders, globs (also gs://... when that filesystem is installed).
      out_dir: the local output folder (created, or replaced with `overwrite`).
      pipeline_args: Beam pipeline options, e.g. ["--runner=DirectRunner",
        "--direct_num_workers=2", "--direct_running_mode=multi_processing"].
      pixel_csv, pixel_size_mm, allow_implausible_pixel_size, ga_weeks: as predict's.
      overwrite: replace an earlier Beam run's outputs in `out_dir`.

    Returns:
      The report records in predict's order, the dead letters, the shards' location.

    Raises:
      ValueError: before the pipeline runs, for what predict refuses and for a model that
        is not a `.tflite`; after, when the pipeline itself fails (`out_dir` untouched).
    """
    check_model(model_path)
    options = pipeline_options(pipeline_args)
    job = predict_inputs.read_inputs(inputs, pixel_csv, pixel_size_mm, allow_implausible_pixel_size,
                                  ga_weeks, match=match_paths, dicom_ok=False)
    tasks = [ImageTask(i, path, job.pixel_size(os.path.basename(path)),
                       job.known_ga(os.path.basename(path)), allow_implausible_pixel_size)
             for i, path in enumerate(job.paths)]
    read = [*job.paths, *([pixel_csv] if pixel_csv else [])]
    with out_dir_lib.staged(out_dir, overwrite, BEAM_OUTPUTS, read) as staging:
        shards = shards_location(options, staging)
        run_pipeline(tasks, model_path, shards, options)
        measured = read_shards(shards, MEASURED_PREFIX)
        dead = job.refused + [(d["path"], d["error"]) for d in read_shards(shards, DEAD_LETTER)]
        records = [m["record"] for m in measured]
        predict_lib.write_tables(staging, [m["submission"] for m in measured], records, dead,
                                 model_path, unreadable_name=DEAD_LETTER_NAME,
                                 exam_column=exams_lib.read_exam_column(pixel_csv))
    if shards.startswith(staging):
        shards = os.path.join(out_dir, os.path.relpath(shards, staging))
    return BeamResult(records, dead, shards, job.notes)
