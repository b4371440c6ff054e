"""`hc-tf node serve|status`: the click group cli.py adds (kept here, so cli.py stays small)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
import warnings

import click

from hc_tf.console import text
from hc_tf.node import config as config_lib


def _load(config_path, **overrides) -> config_lib.NodeConfig:
    try:
        return config_lib.load(config_path, overrides)
    except config_lib.ConfigError as err:
        raise click.ClickException(str(err)) from None


@click.group()
def node() -> None:
    """A DICOM node: receive ultrasound images, measure them, send the SR to the PACS."""


# What another library's line may quote of an instance: a UID (five parts or more: an IPv4
# address has four), or a value in quotes (pynetdicom: "Non-conformant 'Affected SOP Instance
# UID' value '1.2.03...'", for a scanner's UID with a leading zero).
_QUOTED = re.compile(r"\b\d+(?:\.\d+){4,}\b|(?<=value )'[^']*'")
# Their warnings are about a file's values, which they quote (a UID, a name); the node says what
# it refuses itself, by tag.
_FILE_READERS = ("pydicom", "highdicom")


class _NoInstanceData(logging.Filter):
    """Every line a JSON object, in every thread: the node's own as they are; another
    library's (pynetdicom's "Network timeout reached", "Unknown PDU type received '0x48'", its
    "Association Rejected" over three lines: plain text in a log read as JSON lines) as
    {"event": <the library>, "level", "logger", "message"}, with what it quotes of an instance
    masked, an exception by its type and where it was raised (its text may quote a value);
    none of pydicom's and highdicom's below ERROR (a level set on their loggers is reset when
    pydicom is imported)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "hc_tf_json", False):  # made a JSON line by another handler's filter
            return True
        if record.name.split(".")[0] in _FILE_READERS and record.levelno < logging.ERROR:
            return False
        if record.name.startswith("hc_tf.node") and record.getMessage().startswith("{"):
            return True
        exc = record.msg if isinstance(record.msg, BaseException) else None
        library = "python_warning" if record.name == "py.warnings" else record.name.split(".")[0]
        fields = {"event": library, "level": record.levelname,
                  "logger": record.name,
                  "message": type(exc).__name__ if exc else _QUOTED.sub("<masked>",
                                                                        record.getMessage())}
        if record.exc_info and record.exc_info[0]:
            fields["exception"] = record.exc_info[0].__name__
            fields["where"] = [f"{os.path.basename(f.filename)}:{f.lineno} {f.name}"
                               for f in traceback.extract_tb(record.exc_info[2])[-3:]]
        record.msg, record.args = json.dumps(fields, sort_keys=True), None
        record.exc_info = record.exc_text = None
        # Once: a record goes through every handler's filters, and a JSON line wrapped again
        # doubles its escapes (a test process that ran `serve` a dozen times grew to 21 GB).
        record.hc_tf_json = True
        return True


def _log_lines() -> None:
    """The node's own JSON lines at INFO; of other libraries, warnings only (pynetdicom's INFO
    lines name patients), as `_NoInstanceData` lets them through, Python warnings among them;
    no pydicom or highdicom Python warning."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(message)s")
    logging.getLogger("hc_tf.node").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoInstanceData) for f in handler.filters):  # serve run again
            handler.addFilter(_NoInstanceData())
    for name in _FILE_READERS:
        warnings.filterwarnings("ignore", module=name + r"(\.|$)")
    logging.captureWarnings(True)  # another library's warning: a JSON line, not stderr text


@node.command()
@click.option("--config", "config_path", required=True, help="The node's TOML file (docs/node.md).")
@click.option("--ae-title", default=None, help="This node's AE title.")
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="DICOM port.")
@click.option("--spool", default=None, help="Spool folder (images, SRs, journal).")
@click.option("--workers", type=int, default=None, help="Measuring pool size (0: one per core).")
@click.option("--max-associations", type=int, default=None,
              help="Inbound associations at once (default 4); each may hold up to the input "
                   "limit in memory.")
def serve(config_path, ae_title, host, port, spool, workers, max_associations):
    """Listen for C-STORE/C-ECHO and deliver SRs until SIGTERM/SIGINT."""
    cfg = _load(config_path, ae_title=ae_title, host=host, port=port, spool=spool, workers=workers,
                max_associations=max_associations)
    from hc_tf.io import images
    try:  # read now: a bad value is one line before any work, not a traceback in the listener
        images.check_limits()
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    from hc_tf.node import service
    from hc_tf.surfaces.demo.guard import is_loopback
    _log_lines()
    if not is_loopback(cfg.host):
        logging.getLogger("hc_tf.node").warning(json.dumps({
            "event": "exposed", "host": cfg.host,
            "why": "listening beyond this machine: only the allow-listed AE titles are "
                   "accepted, but DICOM has no password; expose it only on a trusted network"}))
    try:
        service.serve(cfg)
    except ImportError as err:
        raise click.ClickException(f"{err}; pip install 'hc-tf[node]' (or pip install -e "
                                   "'.[node]' in a checkout)") from None
    except config_lib.ConfigError as err:  # a TLS file, the spool, the model, the port
        raise click.ClickException(f"{config_path}: {err}") from None
    except OSError as err:  # not one a key names: the file, if any, and why
        where = f"{err.filename}: " if err.filename else ""
        raise click.ClickException(f"{where}{err.strerror or err}") from None


@node.command()
@click.option("--config", "config_path", required=True, help="The node's TOML file.")
@click.option("--spool", default=None, help="Spool folder (overrides the file).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(config_path, spool, as_json):
    """Backlog, dead letters and each destination's state, from the spool's journal."""
    from hc_tf.node import journal as journal_lib
    cfg = _load(config_path, spool=spool)
    path = os.path.join(cfg.spool, journal_lib.NAME)
    if not os.path.isfile(path):
        raise click.ClickException(f"{path}: no journal (has the node run with this spool?)")
    import sqlite3
    try:
        doc = journal_lib.Journal(path, readonly=True).status()
    except sqlite3.OperationalError as err:  # read-only: an older journal is not updated here
        raise click.ClickException(f"{path}: {err} (a journal of an older hc-tf: the node's "
                                   "next start updates it)") from None
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    click.echo(f"backlog: {doc['backlog']}  states: "
               + ", ".join(f"{k} {v}" for k, v in sorted(doc["instances"].items())))
    for name, d in sorted(doc["destinations"].items()):
        extra = f"  last error: {d['last_error']}" if d.get("last_error") else ""
        click.echo(f"destination {name}: pending {d['pending']}, sent {d['sent']}, "
                   f"dead {d['dead']}{extra}")
    reports = doc["series_reports"]
    if any(reports.values()):  # [node] obgyn_report: series waiting for, or sending, theirs
        click.echo("series reports: " + ", ".join(f"{k} {v}" for k, v in sorted(reports.items())))
    click.echo(_journal_line(doc["journal"], cfg.journal_keep_days))
    click.echo(f"dead letters: {len(doc['dead_letters'])}")
    for dl in doc["dead_letters"]:
        kind = " (a series' OB-GYN report)" if dl["kind"] != "image" else ""
        click.echo(f"  #{dl['id']}{kind}: {dl['reason']}")
    click.echo(f"refused deliveries: {len(doc['undelivered'])}")
    for u in doc["undelivered"]:
        folder = os.path.join(cfg.spool, "out", str(u["id"]))
        kept = f"SRs kept in {folder}" if os.path.isdir(folder) else "SRs deleted (forget-dead)"
        click.echo(f"  #{u['id']} -> {u['dest']}: {u['error']}; {kept}")


def _journal_line(journal: dict, keep_days: float) -> str:
    """The journal's records and the oldest one's age: what the retention keeps."""
    age = journal["oldest_age_s"]
    oldest = "" if age is None else f", the oldest {age / 86400:.1f} days old"
    return (f"journal: {journal['records']} record(s){oldest}; finished ones are deleted "
            f"after {keep_days:g} days (journal_keep_days)")


# A FHIR file hc-tf writes is a few hundred kB (a 120-frame cine's exam report: 0.5 MB).
MAX_FHIR_FILE_BYTES = 64 * 1024 * 1024


def _fhir_files(paths) -> list:
    """The *.fhir.json files given, folders searched recursively, in name order."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(os.path.join(d, f) for d, _, names in os.walk(p) for f in names
                          if f.endswith(".fhir.json"))
        else:
            out.append(p)
    return out


@node.command("send-fhir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--url", required=True, help="The FHIR R4 server's base URL.")
def send_fhir(paths, url):
    """Files `hc-tf predict`'s FHIR files (PATHS: files, or folders such as OUT/fhir) on a FHIR
    server, as the node's `fhir` destination does: each file one transaction of PUTs, so
    sending the same files again updates. A head's ids are hctf-<a hash of its image's SOP
    Instance UID> (the node's: never the file's name, which may carry a patient's, and the same
    however the file was named)."""
    from hc_tf.node import destinations as dest_lib
    if not re.match(r"https?://[^/?#\s]+", url):
        raise click.BadParameter(f"{url!r}: an http(s):// URL", param_hint="--url")
    dest = dest_lib.Fhir(config_lib.Destination("fhir", url, (("url", url),)))
    failed = 0
    for path in _fhir_files(paths):
        try:
            if os.path.getsize(path) > MAX_FHIR_FILE_BYTES:
                raise ValueError(f"over {MAX_FHIR_FILE_BYTES // 2**20} MiB: not an hc-tf FHIR file")
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            if not isinstance(doc, dict):
                raise ValueError("not a FHIR resource (a JSON object)")
            dest.send_doc(doc)
            click.echo(f"{path}: filed")
        except (OSError, UnicodeDecodeError, ValueError, dest_lib.Retry, dest_lib.Refused) as err:
            failed += 1
            text.echo_err(f"{path}: not filed: {err}")
        except (KeyError, TypeError, AttributeError):  # JSON, not a Bundle hc-tf writes
            failed += 1
            text.echo_err(f"{path}: not filed: not a FHIR file hc-tf wrote")
    if failed:
        raise click.ClickException(f"{failed} file(s) not filed")


@node.command("forget-dead")
@click.option("--config", "config_path", required=True, help="The node's TOML file.")
@click.option("--spool", default=None, help="Spool folder (overrides the file).")
def forget_dead(config_path, spool):
    """Delete the dead letters' images, and the SRs kept for refused deliveries, from the
    spool (their reasons stay in `status`, a dead letter's until journal_keep_days after it
    died)."""
    from hc_tf.node import spool as spool_lib
    cfg = _load(config_path, spool=spool)
    if not os.path.isdir(cfg.spool):
        raise click.ClickException(f"{cfg.spool}: no spool")
    n = spool_lib.Spool(cfg.spool, cfg.spool_limit_bytes, cfg.min_free_mb).forget_dead()
    click.echo(f"deleted {n} dead letter(s) (images, SRs of refused deliveries) from {cfg.spool}")


@node.command()
@click.option("--config", "config_path", required=True, help="The node's TOML file.")
@click.option("--spool", default=None, help="Spool folder (overrides the file).")
@click.option("--dest", default=None,
              help="Only the deliveries to this destination (default: every configured one).")
@click.option("--from", "from_", default=None, metavar="OLD",
              help="The refused deliveries to OLD, a destination renamed or removed (\"no "
                   "longer configured\"), sent to --dest instead.")
def resend(config_path, spool, dest, from_):
    """Queue the refused deliveries again (`status`' "refused deliveries"), once the
    destination has been put right: a PACS that now takes the SR, a corrected config. A
    running node sends them within a second; a stopped one at its start. A destination
    renamed or removed strands its deliveries ("no longer configured"): `--from OLD --dest
    NEW` sends them to NEW."""
    from hc_tf.node import spool as spool_lib
    cfg = _load(config_path, spool=spool)
    names = [d.name for d in cfg.destinations]
    if from_ is not None and from_ in names:  # it had moved a configured one's refusals
        raise click.BadParameter(f"{from_!r} is still a destination of {config_path}: --from "
                                 "is for one renamed or removed; `resend --dest "
                                 f"{from_}` queues its refused deliveries again",
                                 param_hint="--from")
    if from_ is not None and dest is None:
        raise click.BadParameter("--from OLD needs --dest NEW, a destination of "
                                 f"{config_path} ({', '.join(names)})", param_hint="--from")
    if dest is not None and dest not in names:
        hint = (f"; its refused deliveries go to a configured one with --from {dest} --dest "
                "NEW") if from_ is None else ""
        raise click.BadParameter(f"{dest!r}: not a destination of {config_path} "
                                 f"({', '.join(names)}){hint}", param_hint="--dest")
    if not os.path.isdir(cfg.spool):
        raise click.ClickException(f"{cfg.spool}: no spool")
    store = spool_lib.Spool(cfg.spool, cfg.spool_limit_bytes, cfg.min_free_mb)
    if from_ is not None:
        held: dict = {}  # destination -> refused deliveries (a mistyped OLD had said "queued 0")
        for r in store.journal.refused():
            held[r["dest"]] = held.get(r["dest"], 0) + 1
        if from_ not in held:
            raise click.ClickException(f"no refused deliveries to {from_!r} in {cfg.spool}: " + (
                "those held are to " + ", ".join(f"{d!r} ({n})" for d, n in sorted(held.items()))
                if held else "none are held"))
        queued, gone = store.redirect_refused(from_, dest)
    else:
        queued, gone = store.resend_refused([dest] if dest else names)
    deleted = f"; {gone} not: their SRs were deleted (forget-dead)" if gone else ""
    click.echo(f"queued {queued} refused deliver{'y' if queued == 1 else 'ies'} again{deleted}")
    stranded: dict = {}  # refused deliveries to destinations gone from the config, SRs kept
    for r in store.journal.refused():
        if r["dest"] not in names and os.path.isdir(store.out_dir(r["instance_id"])):
            stranded[r["dest"]] = stranded.get(r["dest"], 0) + 1
    for old, n in sorted(stranded.items()):
        click.echo(f"{n} refused deliver{'y' if n == 1 else 'ies'} to {old!r}, no longer a "
                   f"destination of {config_path}: `hc-tf node resend --config {config_path} "
                   f"--from {old} --dest NEW` sends them to NEW")
