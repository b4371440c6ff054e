"""The source's fields as the SR copies them: valid DICOM, named by tag, in the source's zone.

highdicom copies the source's Patient and Study modules into the SR as they are and parses some
of them (a value it cannot parse raises; its warnings quote the value), and scanners write
dashed dates, "FEMALE" and several-valued names. Here each copied value is made valid or left
empty, each change is a note naming the tag (never the value: patient data stays out of logs),
the SR's own dates and times are written in the source's TimezoneOffsetFromUTC, and a refusal
names the fields it quoted. Apart from `dicom_sr`, which builds the measurement's content,
because this is about the source's fields, not the measurement.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, List, Optional, Tuple

# The patient and study fields highdicom reads from the source itself (and parses: a value it
# cannot parse raises, a name without '^' is quoted in a warning); each must be present.
PARSED_FIELDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                 "AccessionNumber", "StudyID", "StudyDate", "StudyTime")
SEX_WORDS = {"FEMALE": "F", "MALE": "M", "OTHER": "O"}
# Sequences, UIDs (the reader checks the ones the SR needs) and binary values are copied as they are.
NOT_CHECKED_VRS = frozenset({"SQ", "UI", "OB", "OD", "OF", "OL", "OV", "OW", "UN"})
# The control characters each text VR allows (PS3.5 6.1-6.2; pydicom checks lengths, not these):
# LO, SH and UC none but ESC, PN not LF, FF or CR, ST, LT and UT also CR, LF, FF and TAB.
TEXT_CONTROLS = {"SH": "\x1b", "LO": "\x1b", "UC": "\x1b", "PN": "\t\x1b",
                 "ST": "\t\n\f\r\x1b", "LT": "\t\n\f\r\x1b", "UT": "\t\n\f\r\x1b"}
UTC_OFFSET = re.compile(r"([+-])([0-9]{2})([0-9]{2})")  # TimezoneOffsetFromUTC, "&ZZXX"


def _tag(keyword_or_tag: Any) -> str:
    from pydicom.tag import Tag
    t = Tag(keyword_or_tag)
    return f"({t.group:04X},{t.element:04X})"


def _named(elem: Any) -> str:
    return f"{elem.keyword or 'a field'} {_tag(elem.tag)}"


def _values(value: Any) -> List[Any]:
    from pydicom.multival import MultiValue
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def _valid(vr: str, value: Any) -> bool:
    """Whether pydicom (and highdicom, which parses DA/TM/DT) accepts one value of `vr`, and
    it holds no control character `vr` forbids."""
    from pydicom import config
    from pydicom import valuerep
    try:
        valuerep.validate_value(vr, value, config.RAISE)
        allowed = TEXT_CONTROLS.get(vr)
        if allowed is not None and any(c < " " and c not in allowed for c in str(value)):
            return False
        parse = {"DA": valuerep.DA, "TM": valuerep.TM, "DT": valuerep.DT}.get(vr)
        if parse is not None and isinstance(value, str):
            parse(value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _dashed_date(value: Any) -> Optional[str]:
    """"1980-01-01" or "1980.01.01" (a real date) as DICOM's "19800101"; None otherwise."""
    m = re.fullmatch(r"\s*(\d{4})[-.](\d{2})[-.](\d{2})\s*", str(value))
    if not m:
        return None
    try:
        datetime.date(*(int(g) for g in m.groups()))
    except ValueError:
        return None
    return "".join(m.groups())


def _fixed(elem: Any) -> Tuple[Any, Optional[str]]:
    """(a value DICOM and highdicom accept, a note naming the tag) for an element; the note is
    None when the value is kept as it is. The note never holds the value."""
    from pydicom.datadict import dictionary_VM
    vr, values = elem.VR, _values(elem.value)
    if vr in NOT_CHECKED_VRS or not values:
        return elem.value, None
    if any(isinstance(v, bytes) for v in values):  # text pydicom could not decode
        return "", f"{_named(elem)} is not text: left empty in the SR"
    note = None
    try:
        single = dictionary_VM(elem.tag) == "1"
    except KeyError:
        single = False
    if single and len(values) > 1:
        values = values[:1]
        note = f"{_named(elem)} has {len(_values(elem.value))} values: the SR keeps the first"
    if elem.keyword == "PatientSex":
        word = str(values[0]).strip().upper()
        sex = SEX_WORDS.get(word, word)
        if sex not in ("M", "F", "O"):
            return "", f"{_named(elem)} is not M, F or O: left empty in the SR"
        if sex != values[0]:
            return sex, f"{_named(elem)} written as the DICOM code {sex}"
        return (values[0], note) if note else (elem.value, None)
    if vr == "DA":
        dates = [_dashed_date(v) if not _valid(vr, v) else v for v in values]
        if any(d is None for d in dates):
            return "", f"{_named(elem)} is not a DICOM date: left empty in the SR"
        if dates != values:
            values = dates
            note = "; ".join(filter(None, [note, f"{_named(elem)} written as YYYYMMDD (the "
                                                 f"file has a dashed date)"]))
    if not all(_valid(vr, v) for v in values):
        return "", f"{_named(elem)} is not a valid DICOM {vr}: left empty in the SR"
    if note is None:
        return elem.value, None
    return (values[0] if len(values) == 1 else values), note


def clean_evidence(source: Any) -> Tuple[Any, List[str]]:
    """A copy of the source header that highdicom accepts, and notes naming what changed.

    The patient and study fields highdicom parses (PARSED_FIELDS) are there (empty when the
    file lacks them), valid, and one-valued; a value that cannot be made valid is left empty.
    The source itself is not changed. Call it inside `dicom.quiet()`.
    """
    from pydicom.dataelem import DataElement
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset
    from pydicom.tag import Tag
    evidence, notes = Dataset(), []
    for tag in list(source.keys()):  # shared elements: a changed one is replaced, not edited
        try:
            evidence.add(source[tag])
        except Exception:  # pydicom cannot convert its value ("heavy" as a DS)  # noqa: BLE001
            notes.append(f"{_tag(tag)} cannot be read: left out of the SR")
    for keyword in PARSED_FIELDS:
        tag = Tag(keyword)
        if tag not in evidence:
            evidence.add(DataElement(tag, dictionary_VR(tag), ""))
            continue
        value, note = _fixed(evidence[tag])
        if note:
            evidence.add(DataElement(tag, evidence[tag].VR, value))
            notes.append(note)
    return evidence, notes


def clean_copied(sr: Any, evidence: Any) -> List[str]:
    """Makes valid every top-level field the SR copied from the source (highdicom copies the
    Patient and Study modules as they are); returns the notes."""
    from pydicom.dataelem import DataElement
    notes = []
    for tag in list(sr.keys()):
        if tag not in evidence or sr[tag] is not evidence[tag]:
            continue
        value, note = _fixed(sr[tag])
        if note:
            sr.add(DataElement(tag, sr[tag].VR, value))
            notes.append(note)
    return notes


def utc_offset(value: Any) -> Optional[datetime.timezone]:
    """TimezoneOffsetFromUTC ("+0530", "-0800") as a timezone; None for no value or one DICOM
    does not allow ("+5:30", "+2500", an offset past -1200..+1400, "-0000": UTC is "+0000")."""
    m = UTC_OFFSET.fullmatch(str(value or "").strip())
    if not m:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3))
    offset = (hours * 60 + minutes) * (-1 if m.group(1) == "-" else 1)
    if minutes >= 60 or not -12 * 60 <= offset <= 14 * 60 or m.group(0) == "-0000":
        return None
    return datetime.timezone(datetime.timedelta(minutes=offset))


def in_source_zone(sr: Any, evidence: Any) -> List[str]:
    """Declares the source's TimezoneOffsetFromUTC in the SR and writes the SR's own dates and
    times (creation, content, highdicom's contribution) in that zone; returns the notes.

    The offset covers every date and time of an instance: the study's, copied from the
    source, and the SR's own, which highdicom writes in this machine's local time (a node in
    UTC beside a scanner in +0100 was an hour off). A source that declares no offset leaves
    the SR's undeclared too, as local time (DICOM's reading of an undeclared time).
    """
    raw = evidence["TimezoneOffsetFromUTC"] if "TimezoneOffsetFromUTC" in evidence else None
    if raw is None or not str(raw.value or "").strip():
        return []
    zone = utc_offset(raw.value)
    if zone is None:
        return [f"{_named(raw)} is not a valid offset: left out of the SR; its own times are "
                f"this computer's local time"]
    now = datetime.datetime.now(zone)
    sr.TimezoneOffsetFromUTC = str(raw.value).strip()
    sr.InstanceCreationDate = sr.ContentDate = now.strftime("%Y%m%d")
    sr.InstanceCreationTime = sr.ContentTime = now.strftime("%H%M%S.%f")
    for item in sr.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = now.strftime("%Y%m%d%H%M%S.%f")
    return []


def failure(evidence: Any, err: Exception) -> str:
    """Why the SR could not be built: the exception's kind and the source fields whose values
    it quotes (by tag; the values are left out)."""
    text = str(err)
    tags = [_named(elem) for elem in evidence
            if elem.VR not in NOT_CHECKED_VRS and len(str(elem.value or "")) >= 3
            and str(elem.value) in text]
    where = f" (check {', '.join(tags)})" if tags else ""
    return f"the SR could not be built: {type(err).__name__} from highdicom{where}"
