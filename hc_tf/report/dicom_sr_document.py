"""The SR document around a content tree (highdicom's Comprehensive SR): the source's patient and
study fields made valid (`dicom_sr_evidence`), the evidence, hc-tf's coding scheme, the file.

`dicom_sr` (one head, TID 1500) and `dicom_sr_obgyn` (an exam, TID 5000) build the content;
both are wrapped here, the same way.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from hc_tf.io import dicom
from hc_tf.report import dicom_sr_evidence

# hc-tf's own concepts (review flag, equations): a private coding scheme, declared in the SR.
SCHEME = "99HCTF"
SCHEME_NAME = "hc-tf measurement concepts"
SERIES_NUMBER = 9801  # a new series beside the scanner's
MANUFACTURER = "hc-tf"


class SRError(ValueError):
    """An SR that cannot be built from this source; str() names the tags, never a value."""


def root_alone(root: Any) -> Any:
    """The root content item with no children (a new dataset sharing the root's other elements).

    highdicom's document deep-copies, re-parses and searches the whole tree it is given (43 ms
    an SR of ~500 elements here, Intel Xeon; 4.5 ms given the root alone): a tree its own
    classes built and checked item by item. Given the root alone it copies the root's own
    fields and collects the evidence as before (all of it, referenced or not); the children
    are put back after.
    """
    from pydicom.dataset import Dataset
    alone = Dataset()
    for elem in root:
        if elem.keyword != "ContentSequence":
            alone.add(elem)
    alone.ContentSequence = []  # highdicom's evidence search needs one
    return alone


def comprehensive_sr(source: Any, content: Any, series_instance_uid: str,
                     instance_number: int, notes: Optional[List[str]] = None,
                     references: Sequence[Any] = ()) -> Any:
    """The Comprehensive SR of `content`, with the source's patient and study fields made valid
    (`dicom_sr_evidence`), its zone, hc-tf's coding scheme declared, and `references` (datasets
    of UIDs alone) as evidence beside the source; the changes' notes go to `notes`.

    Raises:
      SRError: highdicom refused the source; it names tags, never values.
    """
    import highdicom as hd
    from pydicom.sequence import Sequence as DataElementSequence
    from pydicom.uid import generate_uid
    root = content[0] if isinstance(content, DataElementSequence) else content
    with dicom.quiet():  # highdicom and pydicom quote the values they warn about
        evidence, changed = dicom_sr_evidence.clean_evidence(source)
        try:
            sr = hd.sr.ComprehensiveSR(
                evidence=[evidence, *references], content=root_alone(root),
                series_instance_uid=series_instance_uid, series_number=SERIES_NUMBER,
                sop_instance_uid=generate_uid(), instance_number=instance_number,
                manufacturer=MANUFACTURER, is_complete=True)
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            raise SRError(dicom_sr_evidence.failure(evidence, err)) from None
        sr.ContentSequence = root.ContentSequence
        changed += dicom_sr_evidence.clean_copied(sr, evidence)
    changed += dicom_sr_evidence.in_source_zone(sr, evidence)
    declare_scheme(sr)
    if notes is not None:
        notes.extend(changed)
    return sr


def declare_scheme(sr: Any) -> None:
    """Coding Scheme Identification (0008,0110) for the private scheme the SR uses."""
    from pydicom.dataset import Dataset
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = MANUFACTURER
    sr.CodingSchemeIdentificationSequence = [item]


def write_sr(sr: Any, path: str) -> None:
    """Writes the SR (atomically: a half-written SR never lands)."""
    from hc_tf.io import atomic
    with atomic.atomic_path(path) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
