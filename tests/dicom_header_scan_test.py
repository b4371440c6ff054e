"""The header scan (hc_tf/io/dicom_header_scan.py): it counts what pydicom would read, and a
header of too many elements or items is refused before pydicom reads any of it."""

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from hc_tf import defaults  # noqa: E402
from hc_tf.io import dicom  # noqa: E402
from hc_tf.io.dicom_header_scan import HeaderScan  # noqa: E402
from tests import dicom_files  # noqa: E402

# pydicom-data's files in every encoding the scan follows: explicit and implicit VR, big endian,
# deflated, a missing transfer syntax, undefined-length UN sequences, nested and per-frame
# sequences, encapsulated pixel data, a cine of 120 JPEG frames, palettes, waveforms.
REAL = ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm",
        "nested_priv_SQ.dcm", "rtplan.dcm", "emri_small.dcm", "US1_J2KR.dcm",
        "color3d_jpeg_baseline.dcm", "ExplVR_BigEnd.dcm", "UN_sequence.dcm", "liver.dcm",
        "waveform_ecg.dcm", "OBXXXX1A.dcm", "SC_rgb_rle_32bit.dcm", "gdcm-US-ALOKA-16.dcm",
        "reportsi.dcm", "meta_missing_tsyntax.dcm"]


def real(name):
    from pydicom.data import get_testdata_file
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name}: pydicom-data is not installed (the [test] extra)")
    return path


def pydicom_count(ds) -> int:
    """Elements and sequence items pydicom holds once every element is converted."""
    count, datasets = 0, [ds.file_meta, ds]
    while datasets:
        for element in datasets.pop():
            count += 1
            if element.VR == "SQ":
                count += len(element.value)
                datasets.extend(element.value)
    return count


@pytest.fixture
def scans(monkeypatch):
    """The HeaderScans `dicom` makes, in order."""
    made = []
    init = HeaderScan.__init__
    monkeypatch.setattr(HeaderScan, "__init__", lambda self, path: init(self, path) or made.append(self))
    return made


def crafted(path, kind: str) -> str:
    """An implicit-VR 16 x 16 image where only pydicom's dictionary tells how to read on:
    `fragments`, pixel data of undefined length (a known OB/OW, read to its delimiter) whose
    fragments hold what reads as 100 elements; `odd_items`, a known SQ of undefined length
    whose 100 items are not tagged as items (pydicom reads any tag there as an item)."""
    import struct
    from pydicom import uid
    ds = dicom_files.dataset([np.zeros((16, 16), np.uint8)])
    ds.file_meta.TransferSyntaxUID = uid.ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True, implicit_vr=True)
    data = open(path, "rb").read()
    at = data.index(b"\xe0\x7f\x10\x00")
    if kind == "fragments":
        elements = struct.pack("<HHI", 0x0009, 0x0010, 0) * 100
        fragment = struct.pack("<HHI", 0xFFFE, 0xE000, len(elements)) + elements
        tail = struct.pack("<HHI", 0x7FE0, 0x0010, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0) \
            + fragment + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        data = data[:at] + tail
    else:
        items = struct.pack("<HHI", 0x0008, 0x0016, 0) * 100
        data = data[:at] + struct.pack("<HHI", 0x0008, 0x1140, 0xFFFFFFFF) + items + \
            struct.pack("<HHI", 0xFFFE, 0xE0DD, 0) + data[at:]
    open(path, "wb").write(data)
    return str(path)


@pytest.mark.parametrize("name", REAL + ["fragments", "odd_items"])
def test_the_scan_counts_what_pydicom_reads(name, scans, tmp_path):
    """Byte for byte by pydicom's own rules: the count is pydicom's, element for element, on
    files in every encoding (a miscount would let a bomb through or refuse a real file)."""
    path = real(name) if name in REAL else crafted(tmp_path / f"{name}.dcm", name)
    dicom._dcmread(path, stop_before_pixels=True)
    ds = pydicom.dcmread(path)
    assert scans[-1].count == pydicom_count(ds) > 10


def counted(generator, most: int):
    """`generator` (pydicom's element reader), failing the test past `most` elements in all."""
    read = [0]

    def elements(*args, **kwargs):
        for element in generator(*args, **kwargs):
            read[0] += 1
            if read[0] > most:
                pytest.fail(f"pydicom read over {most} elements")
            yield element
    return elements


SAVE = {"explicit": {}, "implicit": {"implicit_vr": True},
        "big_endian": {"little_endian": False, "implicit_vr": False}, "deflated": {}}


MUTATED = ["CT_small.dcm", "MR_small_bigendian.dcm", "rtplan.dcm", "UN_sequence.dcm"]
INTERESTING = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0",
               b"\xfe\xff\x0d\xe0", b"SQ\x00\x00", b"UN\x00\x00"]


def mutated(path, source: bytes, rng) -> str:
    """`source` with 1-4 bytes or 4-byte words of its header changed (a length, a VR, an item
    or delimiter tag), as a damaged or hostile file has them."""
    data = bytearray(source)
    for _ in range(rng.integers(1, 5)):
        at = int(rng.integers(132, min(len(data), 4000) - 4))
        if rng.random() < 0.5:
            data[at] = int(rng.integers(256))
        else:
            data[at:at + 4] = INTERESTING[int(rng.integers(len(INTERESTING)))]
    open(path, "wb").write(bytes(data))
    return str(path)


@pytest.mark.parametrize("name", MUTATED)
def test_the_scan_never_counts_fewer_than_pydicom_reads_on_damaged_files(name, scans, tmp_path,
                                                                          monkeypatch):
    """On 50 damaged copies of each file, wherever pydicom reads the whole file, the count is at
    least pydicom's (a defined-length sequence is walked alone, as pydicom converts it, so a
    damaged one cannot throw the walk off the elements after it), and equal on most. Counted
    with the overrun refusal off: most of these copies have a length that runs past the end
    (below)."""
    import warnings
    monkeypatch.setattr(HeaderScan, "_check_fits", lambda *args: None)
    source = open(real(name), "rb").read()
    rng = np.random.default_rng(sum(map(ord, name)))
    equal = read = 0
    for k in range(50):
        path = mutated(tmp_path / f"{k}.dcm", source, rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = pydicom_count(pydicom.dcmread(path))
            dicom._dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001  pydicom cannot read this one: nothing to compare
            continue
        read += 1
        assert scans[-1].count >= want, f"copy {k}: {scans[-1].count} counted, pydicom read {want}"
        equal += scans[-1].count == want
    assert read >= 35 and equal >= 0.8 * read


def many(path, n: int, encoding: str, what: str) -> str:
    """A 16 x 16 image with `n` empty sequence items (ReferencedImageSequence) or `n` empty
    private elements, or `n` elements of group 0002 added to its file meta."""
    import struct
    from pydicom import uid
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    ds = dicom_files.dataset([np.zeros((16, 16), np.uint8)])
    ds.file_meta.TransferSyntaxUID = {
        "implicit": uid.ImplicitVRLittleEndian, "big_endian": uid.ExplicitVRBigEndian,
        "explicit": uid.ExplicitVRLittleEndian, "deflated": uid.DeflatedExplicitVRLittleEndian,
    }[encoding]
    if what == "items":
        ds.ReferencedImageSequence = Sequence([Dataset() for _ in range(n)])
    elif what == "elements":
        block = ds.private_block(0x0009, "hc-tf tests", create=True)
        for i in range(n):
            block.add_new(i % 256 if i < 256 else 0, "LO", "") if i < 256 else \
                ds.add_new((0x0009 + 2 * (i // 256), 0x1000 + i % 256), "LO", "")
    ds.save_as(path, enforce_file_format=True, **SAVE[encoding])
    if what == "meta":  # before the transfer syntax (0002,0010): empty (0002,0004)...(0002,000F)
        data = open(path, "rb").read()
        at = data.index(b"\x02\x00\x10\x00UI")
        extra = b"".join(struct.pack("<HH2sH", 2, 0x0004 + i % 12, b"LO", 0) for i in range(n))
        open(path, "wb").write(data[:at] + extra + data[at:])
    return str(path)


@pytest.mark.parametrize("encoding,what", [
    ("explicit", "items"), ("implicit", "items"), ("big_endian", "items"), ("deflated", "items"),
    ("explicit", "elements"), ("implicit", "elements"), ("explicit", "meta")])
def test_a_header_of_too_many_elements_is_refused_before_pydicom_reads_it(
        tmp_path, monkeypatch, scans, encoding, what):
    """200,000 empty items (a 1.6 MB file) had taken 217 MB and 4 s: at the limit a file is
    read, one element or item past it is refused naming the file, before pydicom reads a
    sequence or the data set."""
    from pydicom import filereader
    monkeypatch.setattr(defaults, "MAX_HEADER_ELEMENTS", 1000)
    dicom.read_header(many(tmp_path / "ten.dcm", 10, encoding, what))
    base = scans[-1].count - 10  # the file's other elements (and the sequence's)
    assert 20 < base < 100
    assert dicom.read_header(many(tmp_path / "at.dcm", 1000 - base, encoding, what)).rows == 16
    # (the meta group is walked and read before the data set: there, a bomb is the meta alone)
    over = many(tmp_path / "over.dcm", 1001 - (0 if what == "meta" else base), encoding, what)
    monkeypatch.setattr(filereader, "read_sequence", lambda *a, **k: pytest.fail("read_sequence"))
    monkeypatch.setattr(filereader, "data_element_generator", counted(
        filereader.data_element_generator, most=base))
    with pytest.raises(dicom.DicomError, match=r"over\.dcm: over 1000 elements and sequence "
                                               r"items in its header \(an ultrasound image has a "
                                               r"few hundred\)"):
        dicom.read_header(over)


def test_the_apps_dictionary_is_the_installed_pydicoms():
    """web_app/src/core/dicom/dictionary_vr.js (the port's dictionary VRs) is what
    scripts/make_dictionary_vr.py makes from this pydicom: regenerate it when pydicom changes."""
    from tests import scripts
    make = scripts.load_script("scripts/make_dictionary_vr.py")
    with open(make.OUT, encoding="utf-8") as f:
        assert f.read() == make.source(), "run: python scripts/make_dictionary_vr.py"


def test_nested_defined_length_sequences_are_walked_without_a_copy_each(tmp_path, monkeypatch,
                                                                          scans):
    """Eight defined-length sequences, one in the other, around a 4 MB value: the scan reads the
    outer value once and walks the inner ones as views of it (a copy a level had taken 16 x the
    file at the depth limit: 530 MB for a 31 MB file of 15 levels)."""
    import struct
    import tracemalloc
    blob = 4 << 20
    ds = dicom_files.dataset([np.zeros((16, 16), np.uint8)])
    path = dicom_files.save(ds, str(tmp_path / "nested.dcm"))
    dicom._dcmread(path, stop_before_pixels=True)
    plain = scans[-1].count
    data = open(path, "rb").read()
    at = data.index(b"\xe0\x7f\x10\x00")
    inner = struct.pack("<HH2sHI", 0x0009, 0x1000, b"OB", 0, blob) + bytes(blob)
    for _ in range(8):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        inner = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, len(item)) + item
    open(path, "wb").write(data[:at] + inner + data[at:])
    monkeypatch.setattr(pydicom, "dcmread", lambda *a, **k: None)  # the scan's memory alone
    tracemalloc.start()
    try:
        dicom._dcmread(path, stop_before_pixels=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scans[-1].count == plain + 8 + 8 + 1  # the sequences, their items, the value
    assert peak < 2 * blob, f"{peak / 2**20:.1f} MiB"


def _explicit_file(tmp_path, name="head.dcm") -> bytes:
    ds = dicom_files.dataset([np.arange(256, dtype=np.uint8).reshape(16, 16)])
    path = dicom_files.save(ds, str(tmp_path / name))
    return open(path, "rb").read()


def _refusal(path) -> str:
    with pytest.raises(dicom.DicomError) as refused:
        dicom.read_header(str(path))
    return str(refused.value)


def _overrun(what, length, past):
    from hc_tf.io.dicom_header_scan import OVERRUN
    return OVERRUN.format(what=what, length=length, past=past)


def test_a_length_past_the_end_of_the_file_is_refused_where_pydicom_reads_on(tmp_path):
    """A damaged length that runs past the file's end (Patient ID's, 16 bits in explicit VR
    little endian), or pixel data cut short in implicit VR: pydicom reads what is there, without
    a word; the scan refuses it naming the element."""
    import struct
    data = _explicit_file(tmp_path)
    at = data.index(b"\x10\x00\x20\x00LO")  # Patient ID (0010,0020)
    damaged = tmp_path / "long_id.dcm"
    damaged.write_bytes(data[:at + 6] + struct.pack("<H", 0xFFF0) + data[at + 8:])
    pydicom.dcmread(str(damaged))  # pydicom reads on
    past = at + 8 + 0xFFF0 - len(data)
    assert _refusal(damaged) == f"{damaged}: {_overrun('element (0010,0020)', 0xFFF0, past)}"

    ds = dicom_files.dataset([np.zeros((16, 16), np.uint8)])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    cut = tmp_path / "cut.dcm"
    ds.save_as(str(cut), enforce_file_format=True, implicit_vr=True)
    cut.write_bytes(cut.read_bytes()[:-10])
    assert _refusal(cut) == f"{cut}: {_overrun('element (7FE0,0010)', 256, 10)}"


def test_an_item_past_the_end_of_its_sequence_is_refused(tmp_path):
    """A defined-length item longer than its defined-length sequence, and an element longer
    than its item: both refused, the item first."""
    import struct
    data = _explicit_file(tmp_path)
    at = data.index(b"\xe0\x7f\x10\x00")
    element = struct.pack("<HH2sH", 0x0008, 0x1150, b"UI", 4) + b"1.2\x00"
    for name, item_length, element_length, what, past in [
            ("item.dcm", len(element) + 4, 4, "an item", 4),
            ("element.dcm", len(element), 8, "element (0008,1150)", 4)]:
        value = struct.pack("<HH2sH", 0x0008, 0x1150, b"UI", element_length) + b"1.2\x00"
        item = struct.pack("<HHI", 0xFFFE, 0xE000, item_length) + value
        sequence = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, len(item)) + item
        path = tmp_path / name
        path.write_bytes(data[:at] + sequence + data[at:])
        length = item_length if what == "an item" else element_length
        assert _refusal(path) == f"{path}: {_overrun(what, length, past)}"


def test_a_deflated_data_set_that_inflates_to_a_value_past_its_end_is_refused(tmp_path):
    """Deflate has no checksum: damage inflates to other bytes, here an element after the pixel
    data whose length runs past the data set's end, which pydicom read on (the pixels before
    it were read to garbage)."""
    import struct
    import zlib
    from pydicom.filereader import read_file_meta_info
    ds = dicom_files.dataset([np.zeros((16, 16), np.uint8)])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    path = str(tmp_path / "dfl.dcm")
    ds.save_as(path, enforce_file_format=True)
    start = 144 + read_file_meta_info(path).FileMetaInformationGroupLength
    data = open(path, "rb").read()
    body = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[start:])
    body += struct.pack("<HH2sH", 0xBCBD, 0xBCBC, b"LO", 0x0BCB) + b"\xbc" * 6
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    open(path, "wb").write(data[:start] + compressor.compress(body) + compressor.flush())
    assert _refusal(path) == f"{path}: {_overrun('element (BCBD,BCBC)', 0x0BCB, 0x0BCB - 6)}"


def test_a_fragment_holding_the_delimiters_bytes_is_walked_by_its_items(tmp_path, scans):
    """Encapsulated pixel data is walked item by item, as pydicom reads it: a fragment may hold
    the sequence delimiter's bytes, where a search for them stopped and walked the rest of the
    fragment as elements (here: one running past the end, refused; pydicom reads the file)."""
    import struct
    data = _explicit_file(tmp_path)
    at = data.index(b"\xe0\x7f\x10\x00")
    fragment = b"\x00" * 6 + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0) + struct.pack("<HH2sH", 0x0009, 0x0010, b"LO", 4000)
    pixels = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0) \
        + struct.pack("<HHI", 0xFFFE, 0xE000, len(fragment)) + fragment + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    path = tmp_path / "fragment.dcm"
    path.write_bytes(data[:at] + pixels)
    ds = pydicom.dcmread(str(path))
    assert len(ds.PixelData) == 8 + 8 + len(fragment)
    dicom._dcmread(str(path), stop_before_pixels=True)
    assert scans[-1].count == pydicom_count(ds)
