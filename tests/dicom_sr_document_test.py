"""`dicom_sr_document` builds highdicom's document on the root content item alone and puts the
children back (highdicom deep-copies, re-parses and searches the whole tree it is given, most
of the build): every SR `hc-tf predict` writes, the heads' and the exams', must be the very
SR highdicom builds from the whole tree."""

import os

import pytest

pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from hc_tf.report import dicom_sr  # noqa: E402
from hc_tf.report import dicom_sr_document  # noqa: E402
from tests import dicom_files  # noqa: E402

MODEL = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "models", "hc_effunet_int8.tflite")
# New at each build: the SR's UID, its own times, the time highdicom notes as it is made.
NEW_EACH_BUILD = ("SOPInstanceUID", "ContentDate", "ContentTime", "InstanceCreationDate",
                  "InstanceCreationTime", "ContributionDateTime")


def _fields(sr):
    """The SR as DICOM JSON, less what is new at each build."""
    from pydicom.datadict import tag_for_keyword
    new = {f"{tag_for_keyword(k):08X}" for k in NEW_EACH_BUILD}

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in new}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return strip(sr.to_json_dict())


def _built_both_ways(monkeypatch, tmp_path):
    """(as predict builds it, as highdicom builds it from the whole tree) for every SR a
    predict run on an exam's DICOM files writes."""
    pairs = []
    build = dicom_sr_document.comprehensive_sr

    def both(source, content, *args, **kwargs):
        fast = build(source, content, *args, **kwargs)
        with monkeypatch.context() as m:
            m.setattr(dicom_sr_document, "root_alone", lambda root: root)
            pairs.append((fast, build(source, content, *args, **kwargs)))
        return fast
    monkeypatch.setattr(dicom_sr_document, "comprehensive_sr", both)
    monkeypatch.setattr(dicom_sr, "comprehensive_sr", both)
    dicom_files.predict_exam_inputs(tmp_path, MODEL)
    return pairs


def test_every_sr_is_the_one_highdicom_builds_from_the_whole_tree(monkeypatch, tmp_path):
    pairs = _built_both_ways(monkeypatch, tmp_path)
    templates = {str(fast.ContentTemplateSequence[0].TemplateIdentifier) for fast, _ in pairs}
    assert templates == {"1500", "5000"}, templates  # the heads' reports and the exams'
    for fast, whole in pairs:
        assert len(fast.ContentSequence) > 3
        assert _fields(fast) == _fields(whole)
