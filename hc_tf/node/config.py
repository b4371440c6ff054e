"""The node's configuration: one TOML file, with the command line overriding it.

    [node]
    ae_title = "HCTF"                   # this node's AE title
    host = "127.0.0.1"                  # loopback unless told otherwise
    port = 11112
    spool = "/var/spool/hc-tf"          # images, SRs and the journal
    spool_limit_mb = 2048               # over it, associations are refused (transient)
    min_free_mb = 64                    # and when the filesystem has less than this free
    workers = 0                         # measuring pool; 0 = one per core
    max_associations = 4                # inbound associations at once; more are refused
                                        # (transient): the memory bound (docs/node.md)
    network_timeout_s = 60.0            # an association idle this long is aborted (it holds
                                        # one of max_associations meanwhile)
    allowed_calling_aets = ["SCANNER1"] # required unless allow_any_calling_aet = true
    allowed_hosts = []                  # optional: peer IP addresses allowed
    model = ""                          # default: the released int8 model
    fhir_patient_system = ""            # the PatientIDs' issuer (urn:oid:<OID> or a URL): the
                                        # FHIR Observations' subject; default none
    frames = "all"                      # "single": a multi-frame file (a cine loop) is kept
                                        # unmeasured, not an SR per frame
    measure_only = {}                   # e.g. { SeriesDescription = '(?i)head' }: only images
                                        # whose attributes all match are measured (selection.py)
    obgyn_report = false                # true: each series' measured images also as one
                                        # OB-GYN report (TID 5000), sent after their SRs
    series_idle_s = 60.0                # a series is complete (reported) when no image of it
                                        # came for this long and all are measured
    retry_base_s = 2.0                  # a destination that is down: 2, 4, 8 ... seconds
    retry_max_s = 300.0
    journal_keep_days = 30.0            # a finished instance's record is deleted this long
                                        # after its last change (a resend then is measured
                                        # again); one with work left is kept (retention.py)

    [[destination]]
    kind = "dicom"                      # C-STORE SCU
    name = "pacs"
    host = "127.0.0.1"
    port = 4242
    ae_title = "ORTHANC"

    [[destination]]
    kind = "dicomweb"                   # STOW-RS
    name = "web"
    url = "http://127.0.0.1:8042/dicom-web"

    [[destination]]
    kind = "folder"
    name = "archive"
    path = "/srv/hc-tf/sr"

    [[destination]]
    kind = "fhir"                       # the FHIR Observations: PUT Observation/<id>
    name = "ehr"
    url = "https://fhir.example/r4"

    [[pull]]                            # a PACS that does not push: follow its changes
    kind = "orthanc"
    name = "pacs"
    url = "http://127.0.0.1:8042"
    poll_s = 2.0
    # or kind = "dicomweb", url = ".../dicom-web", days = 2: QIDO-RS + WADO-RS, any DICOMweb PACS

With [[pull]] sources and no allowed_calling_aets, the node does not listen at all.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from hc_tf.node import selection as selection_lib
from hc_tf.report import fhir

KINDS = {"dicom": ("host", "port", "ae_title"), "dicomweb": ("url",), "folder": ("path",),
         "fhir": ("url",)}
PULL_KINDS = {"orthanc": ("url",), "dicomweb": ("url",)}
FRAMES = ("all", "single")
DEFAULT_PORT = 11112
DEFAULT_AE = "HCTF"


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Destination:
    kind: str
    name: str
    options: Tuple[Tuple[str, Any], ...]

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    spool: str
    ae_title: str = DEFAULT_AE
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    spool_limit_mb: float = 2048.0
    min_free_mb: float = 64.0
    workers: int = 0
    # Inbound associations at once (pynetdicom's default is 10). Each may hold up to the input
    # limit (HC_TF_MAX_INPUT_BYTES, 512 MiB) and one PDU in memory before its store is spooled
    # (and a copy or two as it is taken), so this bounds the node's memory, for IT to size
    # (docs/node.md). 4 lets a few scanners send at once; more would not measure faster (the
    # pool is bounded by the cores), only hold more.
    max_associations: int = 4
    # An associated peer that sends nothing holds one of them until this (pynetdicom's network
    # timeout, its default): any device knowing an allowed AE title can keep scanners out a
    # minute at a time; allowed_hosts narrows who can, a shorter timeout how long.
    network_timeout_s: float = 60.0
    allowed_calling_aets: Tuple[str, ...] = ()
    allow_any_calling_aet: bool = False
    allowed_hosts: Tuple[str, ...] = ()
    model: str = ""
    # Measuring, not sending: the Observation is written once, the same for a folder and a
    # FHIR server, so the system is the node's, not a destination's.
    fhir_patient_system: str = ""
    # "all": every frame measured, an SR each (as predict); "single": only single-frame images,
    # so a scanner sending cine loops does not put an SR per frame in the PACS.
    frames: str = "all"
    # (DICOM keyword, regular expression) pairs, all to match for an image to be measured.
    measure_only: selection_lib.Rules = ()
    # Off by default: a PACS routing the node's SRs would meet a new kind of instance unasked.
    obgyn_report: bool = False
    # A series is complete (its OB-GYN report built) once none of its images came for this long
    # and all are measured: a scanner's association release says nothing (often one per image).
    series_idle_s: float = 60.0
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    # Storage limitation: a finished instance's record (its UID, and with obgyn_report its
    # values and UIDs) is deleted this long after its last change. The record recognises a
    # resend, which comes within hours or days (a scanner's retry queue, a study sent again the
    # next day, a PACS re-routing after maintenance), and keeps a series' report records until
    # its report is sent (minutes; unsent ones are never purged); a month covers both widely.
    journal_keep_days: float = 30.0
    destinations: Tuple[Destination, ...] = ()
    pulls: Tuple[Destination, ...] = ()
    tls_cert: str = ""                  # TLS on request: server certificate and key (PEM)
    tls_key: str = ""
    tls_ca: str = ""                    # and, to require client certificates, their CA

    @property
    def listens(self) -> bool:
        """False for a pull-only node (no calling AE allowed): no port is opened."""
        return bool(self.allowed_calling_aets) or self.allow_any_calling_aet

    @property
    def spool_limit_bytes(self) -> int:
        return int(self.spool_limit_mb * 1024 * 1024)

    @property
    def selection(self) -> selection_lib.Selection:
        return selection_lib.Selection(self.frames, self.measure_only)

    def pool_size(self) -> int:
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)


_NODE_KEYS = {f.name for f in dataclasses.fields(NodeConfig)} - {"destinations", "pulls"}



def _toml():
    """The TOML parser: the standard library's from Python 3.11, tomli (the [node] extra) on 3.10;
    imported when a file is read, so `hc-tf` starts on a base install."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    return tomllib

def _destination(item: Dict[str, Any], index: int, where: str, kinds=None,
                 what: str = "destination") -> Destination:
    kinds = kinds or KINDS
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: {what} {index + 1}: a [[{what}]] table")
    kind = item.get("kind")
    if kind not in kinds:
        raise ConfigError(f"{where}: {what} {index + 1}: kind {kind!r} is not one of "
                          f"{', '.join(kinds)}")
    missing = [k for k in kinds[kind] if k not in item]
    if missing:
        raise ConfigError(f"{where}: {what} {index + 1} ({kind}) lacks {', '.join(missing)}")
    for key, value in item.items():
        if _option_problem(key, value):
            raise ConfigError(f"{where}: {what} {index + 1} ({kind}) {key} {value!r}: "
                              f"{_option_problem(key, value)}")
    name = str(item.get("name") or f"{kind}{index + 1}")
    options = tuple(sorted((k, v) for k, v in item.items() if k not in ("kind", "name")))
    return Destination(kind, name, options)


def ae_problem(value: Any) -> Optional[str]:
    """What is wrong with an AE title (DICOM's AE: 1 to 16 characters of the default repertoire,
    no backslash; spaces around it are not significant), or None."""
    if not isinstance(value, str):
        return "an AE title in quotes"
    if not 1 <= len(value.strip()) <= 16:
        return "1 to 16 characters"
    if not value.isascii() or "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "ASCII letters, digits, spaces and punctuation, no backslash"
    return None


def _string_list(value: Any, key: str, where: str) -> Tuple[str, ...]:
    """An allow-list: a TOML list of strings. A bare string was taken letter by letter (the real
    scanner refused, AE titles such as "U" admitted), so anything else is refused."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        example = '"US_ROOM1"' if key == "allowed_calling_aets" else '"10.1.2.3"'
        raise ConfigError(f"{where}: [node] {key} {value!r}: a list in brackets, e.g. "
                          f"{key} = [{example}]")
    for v in value:
        if key == "allowed_calling_aets" and ae_problem(v):
            raise ConfigError(f"{where}: [node] {key}: {v!r}: {ae_problem(v)}")
        if key == "allowed_hosts":
            try:  # the peer's address is compared: a host name would never match
                ipaddress.ip_address(v)
            except ValueError:
                raise ConfigError(f"{where}: [node] {key}: {v!r} is not an IP address (the "
                                  "peer's address is compared, not a name)") from None
    return tuple(value)


# The number keys' units and least values: 0 for min_free_mb (no floor of the node's own), above
# 0 for the rest (a retry_max_s of 0 retried a PACS that was down 6 times a second).
_NUMBERS = {"spool_limit_mb": "MiB > 0", "min_free_mb": "MiB >= 0", "series_idle_s": "seconds > 0",
            "retry_base_s": "seconds > 0", "retry_max_s": "seconds > 0",
            "journal_keep_days": "days > 0", "network_timeout_s": "seconds > 0"}


def _type_problem(key: str, value: Any, like: Any) -> Optional[str]:
    """What is wrong with `value` for a key whose default is `like` (its type says the key's),
    or None. TOML's true is no number, 2.7 no whole number, "2" no number at all."""
    if isinstance(like, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(like, int):
        return None if type(value) is int else "a whole number"
    if isinstance(like, float):
        at_least_0 = _NUMBERS[key].endswith(">= 0")
        ok = _number(value) and (value >= 0 if at_least_0 else value > 0)
        return None if ok else _NUMBERS[key]
    if isinstance(like, str) or like is dataclasses.MISSING:
        return None if isinstance(value, str) else "text in quotes"
    return None  # lists and tables: checked apart


def _check_types(node: Dict[str, Any], where: str) -> None:
    for f in dataclasses.fields(NodeConfig):
        problem = _type_problem(f.name, node[f.name], f.default) if f.name in node else None
        if problem:
            raise ConfigError(f"{where}: [node] {f.name} {node[f.name]!r}: {problem}")


# A destination's or pull's keys: what each must be ("ae" an AE title, "url" http(s)://...).
_OPTION_KINDS = {"name": "text", "host": "text", "path": "text", "ae_title": "ae", "port": "port",
                 "url": "url", "poll_s": "seconds", "days": "days"}


def _option_problem(key: str, value: Any) -> Optional[str]:
    kind = _OPTION_KINDS.get(key)
    if kind == "ae":
        return ae_problem(value)
    if kind == "port":
        return None if type(value) is int and 0 < value < 65536 else "a TCP port (1 to 65535)"
    if kind == "url":
        return None if isinstance(value, str) and re.match(r"https?://[^/?#\s]+", value) \
            else "an http:// or https:// URL in quotes"
    if kind == "seconds":
        return None if _positive(value) else "seconds > 0"
    if kind == "days":
        return None if type(value) is int and value > 0 else "a whole number of days > 0"
    return None if kind is None or isinstance(value, str) else "text in quotes"


def _number(value: Any) -> bool:
    """A finite int or float (TOML's true, inf and nan are none here)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) \
        and math.isfinite(value)


def _positive(value: Any) -> bool:
    """A finite number > 0."""
    return _number(value) and value > 0


def _check_keep_days(cfg: NodeConfig, where: str) -> None:
    """journal_keep_days: longer than a DICOMweb pull's window, whose query
    lists an instance for up to `days` + 1 days: one purged within it would be fetched and
    measured again."""
    keep = cfg.journal_keep_days
    for pull in cfg.pulls:
        days = pull.get("days", 2) if pull.kind == "dicomweb" else None
        if _positive(days) and keep < days + 1:
            raise ConfigError(f"{where}: [node] journal_keep_days {keep!r}: at least {days + 1} "
                              f"(pull {pull.name!r} asks for the last {days} days: an instance "
                              "purged sooner would be fetched and measured again)")


def _check(cfg: NodeConfig, where: str) -> NodeConfig:
    if not cfg.spool:
        raise ConfigError(f"{where}: [node] spool is required (a folder for images and journal)")
    if not cfg.listens and not cfg.pulls:
        raise ConfigError(f"{where}: [node] allowed_calling_aets is empty; list the scanners' AE "
                          "titles (or set allow_any_calling_aet = true on a trusted network)")
    if not 0 < cfg.port < 65536:
        raise ConfigError(f"{where}: [node] port {cfg.port} is not a TCP port")
    if ae_problem(cfg.ae_title):
        raise ConfigError(f"{where}: [node] ae_title {cfg.ae_title!r}: {ae_problem(cfg.ae_title)}")
    if not cfg.destinations:
        raise ConfigError(f"{where}: no [[destination]]: the SRs would go nowhere")
    names = [d.name for d in cfg.destinations]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: destination names repeat: {names}")
    if bool(cfg.tls_cert) != bool(cfg.tls_key) or (cfg.tls_ca and not cfg.tls_cert):
        raise ConfigError(f"{where}: TLS needs tls_cert and tls_key (tls_ca only with them)")
    if cfg.max_associations < 1:
        raise ConfigError(f"{where}: [node] max_associations {cfg.max_associations!r}: a whole "
                          "number >= 1 (associations at once, each up to the input limit in "
                          "memory)")
    if cfg.workers < 0:
        raise ConfigError(f"{where}: [node] workers {cfg.workers}: 0 (one per core) or more")
    if cfg.retry_max_s < cfg.retry_base_s:
        raise ConfigError(f"{where}: [node] retry_max_s {cfg.retry_max_s!r}: at least "
                          f"retry_base_s ({cfg.retry_base_s!r}), the first wait")
    _check_keep_days(cfg, where)
    if cfg.frames not in FRAMES:
        raise ConfigError(f"{where}: [node] frames {cfg.frames!r}: one of "
                          f"{', '.join(repr(f) for f in FRAMES)}")
    if cfg.fhir_patient_system != "":
        try:
            fhir.check_system(cfg.fhir_patient_system)
        except ValueError as err:
            raise ConfigError(f"{where}: [node] fhir_patient_system {err}") from None
    return cfg


def load(path: Optional[str], overrides: Optional[Dict[str, Any]] = None) -> NodeConfig:
    """The configuration in `path` (TOML), with `overrides` (None values ignored) on top.

    Raises:
      ConfigError: naming the file and key, for an unreadable file, an unknown key or a value
        that cannot run.
    """
    where = path or "the command line"
    doc: Dict[str, Any] = {}
    if path:
        tomllib = _toml()
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"{path}: {err}") from None
    for key, want, form in (("node", dict, "[node]"), ("destination", list, "[[destination]]"),
                            ("pull", list, "[[pull]]")):
        if not isinstance(doc.get(key, want()), want):
            raise ConfigError(f"{where}: {key} {doc[key]!r}: a {form} table")
    node = dict(doc.get("node", {}))
    unknown = sorted(set(node) - _NODE_KEYS) + sorted(set(doc) - {"node", "destination", "pull"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    node.update({k: v for k, v in (overrides or {}).items() if v is not None})
    _check_types(node, where)
    for key in ("allowed_calling_aets", "allowed_hosts"):
        if key in node:
            node[key] = _string_list(node[key], key, where)
    if "measure_only" in node:
        try:
            node["measure_only"] = selection_lib.check_rules(node["measure_only"])
        except ValueError as err:
            raise ConfigError(f"{where}: [node] measure_only {err}") from None
    dests: List[Destination] = [_destination(d, i, where)
                                for i, d in enumerate(doc.get("destination", []))]
    try:
        pulls = tuple(_destination(d, i, where, PULL_KINDS, "pull")
                      for i, d in enumerate(doc.get("pull", [])))
        cfg = NodeConfig(destinations=tuple(dests), pulls=pulls, **node)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None
    return _check(cfg, where)
