"""hc_tf.io.hc18_csv: the one reader of HC18-style CSVs, and its messages."""

import pytest

import hc_tf
from hc_tf.io import hc18_csv
from hc_tf import measure as M

TRAIN_HEADER = "filename,pixel size(mm),head circumference (mm)"


def _write(tmp_path, text, name="pixels.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_reads_hc18s_training_csv_with_crlf_bom_and_blank_rows(tmp_path):
    path = _write(tmp_path, "\ufeff" + TRAIN_HEADER + "\r\n000_HC.png,0.069136,44.30\r\n\r\n"
                  ",,\r\n001_HC.png,0.0896,56.81\r\n")
    table = hc18_csv.read_hc18_csv(path, with_hc=True)
    assert table.header == ("filename", "pixel size(mm)", "head circumference (mm)")
    assert [(r.row, r.filename, r.pixel_size_mm, r.hc_mm) for r in table.rows] == [
        (2, "000_HC.png", 0.069136, 44.30), (5, "001_HC.png", 0.0896, 56.81)]
    assert table.pixel_sizes() == {"000_HC.png": 0.069136, "001_HC.png": 0.0896}
    assert table.problems == []


def test_test_csv_has_no_hc_and_extra_columns_are_kept(tmp_path):
    path = _write(tmp_path, "filename,pixel size(mm),GA_Weeks\n000_HC.png,0.2,27+3\n")
    table = hc18_csv.read_hc18_csv(path)
    row, = table.rows
    assert row.hc_mm is None and row.fields == ("000_HC.png", "0.2", "27+3")
    assert table.column("ga_weeks") == 2 and table.column("nope") is None


@pytest.mark.parametrize("line,with_hc,message", [
    ("000_HC.png", False, "row 2 (000_HC.png): expected filename, pixel size; got 1 field(s)"),
    ("000_HC.png,0.1", True, "row 2 (000_HC.png): expected filename, pixel size, HC; got 2"),
    ("000_HC.png,abc", False, "row 2 (000_HC.png): pixel size 'abc' is not a number"),
    ("000_HC.png,nan", False, "row 2 (000_HC.png): pixel size 'nan' is not a number (a plain"),
    ("000_HC.png,-1", False, "row 2 (000_HC.png): pixel size '-1' is not positive"),
    ("000_HC.png,1e300", False, "row 2 (000_HC.png): pixel size '1e300' mm is outside the "
                                "plausible range"),
    ("000_HC.png,0.1,NaN", True, "row 2 (000_HC.png): HC 'NaN' is not a number (a plain"),
    ("000_HC.png,0.1,0", True, "row 2 (000_HC.png): HC '0' is not a finite positive number"),
    ("000_HC.png,0.1,x", True, "row 2 (000_HC.png): HC 'x' is not a number"),
    # 1e308 overflowed the ADF (NaN and Infinity in summary.json); 700 mm is an adult's head
    ("000_HC.png,0.1,1e308", True, "row 2 (000_HC.png): reference HC 1e308 mm is over 600 mm"),
    ("000_HC.png,0.1,700", True, "row 2 (000_HC.png): reference HC 700 mm is over 600 mm"),
])
def test_a_bad_row_is_named_by_file_row_and_filename(tmp_path, line, with_hc, message):
    path = _write(tmp_path, f"{TRAIN_HEADER}\n{line}\n")
    with pytest.raises(ValueError) as err:
        hc18_csv.read_hc18_csv(path, with_hc=with_hc)
    assert str(err.value).startswith(f"{path} {message}")


def test_an_implausible_pixel_size_is_the_validators_error_and_may_be_allowed(tmp_path):
    path = _write(tmp_path, "filename,pixel size(mm)\n000_HC.png,3\n")
    with pytest.raises(M.ImplausiblePixelSizeError):
        hc18_csv.read_hc18_csv(path)
    assert hc18_csv.read_hc18_csv(path, allow_implausible=True).pixel_sizes() == {"000_HC.png": 3.0}


@pytest.mark.parametrize("data,why", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a UTF-8 text CSV"),
    (b"filename,pixel size\n000_HC.png,0.1\x00\n", "not a UTF-8 text CSV (NUL byte at offset 34)"),
    (b"filename,pixel size\n\xe9t\xe9.png,0.1\n", "not a UTF-8 text CSV (undecodable byte"),
])
def test_a_binary_file_is_named(tmp_path, data, why):
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match="^" + path.replace("\\", "\\\\") + ": ") as err:
        hc18_csv.read_hc18_csv(path)
    assert why in str(err.value)


def test_a_name_listed_twice_is_refused_with_both_rows(tmp_path):
    path = _write(tmp_path, "filename,pixel size(mm)\n000_HC.png,0.2\n111_HC.png,0.15\n"
                            "000_HC.png,0.3\n")
    with pytest.raises(ValueError, match=r"pixels.csv rows 2 and 4: 000_HC.png is listed twice"):
        hc18_csv.read_hc18_csv(path)


def test_skip_invalid_collects_every_problem_and_drops_duplicated_names(tmp_path):
    path = _write(tmp_path, f"{TRAIN_HEADER}\n000_HC.png,0.2,50\n001_HC.png,-1,50\n"
                            f"002_HC.png,0.2,nan\n000_HC.png,0.2,50\n003_HC.png,0.1,60\n")
    table = hc18_csv.read_hc18_csv(path, with_hc=True, skip_invalid=True)
    assert [r.filename for r in table.rows] == ["003_HC.png"]
    reasons = dict(table.problems)
    assert list(reasons) == ["001_HC.png", "002_HC.png", "000_HC.png"]
    assert reasons["001_HC.png"] == f"{path} row 3 (001_HC.png): pixel size '-1' is not positive"
    assert "row 4 (002_HC.png): HC 'nan'" in reasons["002_HC.png"]
    assert "rows 2 and 5: 000_HC.png is listed twice" in reasons["000_HC.png"]


def test_a_header_only_file_has_no_rows_and_a_custom_reader_is_used(tmp_path):
    assert hc18_csv.read_hc18_csv(_write(tmp_path, TRAIN_HEADER + "\n"), with_hc=True).rows == []
    table = hc18_csv.read_hc18_csv("mem://x.csv", read_bytes=lambda p: b"f,p\na.png,0.1\n")
    assert table.source == "mem://x.csv" and table.pixel_sizes() == {"a.png": 0.1}


@pytest.mark.parametrize("first,with_hc", [
    ("000_HC.png,0.0691,44.30", True),   # an HC18 training CSV without its header
    ("000_HC.png,0.0691", False),
    ("scan.DCM,pixel size", False),      # a data row with a bad pixel size: still not a header
    ("scan.webp,pixel size", False),     # every image name predict reads (file_names)
    ("frame 1,0.2", False),              # a name without an extension, a number beside it
])
def test_a_first_row_of_data_is_refused_as_a_header(tmp_path, first, with_hc):
    """Taken as the header, its image was silently dropped: evaluate scored one fewer, predict
    said it had no pixel size."""
    path = _write(tmp_path, f"{first}\r\n001_HC.png,0.0896,56.81\r\n")
    name = first.split(",")[0]
    for skip_invalid in (False, True):
        with pytest.raises(ValueError) as err:
            hc18_csv.read_hc18_csv(path, with_hc=with_hc, skip_invalid=skip_invalid)
        assert str(err.value) == (f"{path} row 1 ({name}): looks like data, not a header; the "
                                  f"first row must be a header (filename, pixel size[, HC])")


def test_the_embedded_sample_reads():
    import os
    folder = os.path.join(os.path.dirname(hc_tf.__file__), "sample_data")
    train = hc18_csv.read_hc18_csv(os.path.join(folder, hc18_csv.TRAINING_CSV), with_hc=True)
    test = hc18_csv.read_hc18_csv(os.path.join(folder, hc18_csv.TEST_CSV))
    assert len(train.rows) >= 10 and len(test.rows) >= 1


@pytest.mark.parametrize("text,separator", [
    ("filename;pixel size(mm);head circumference (mm)\r\n000_HC.png;0,0691;44,3\r\n", "';'"),
    ("filename\tpixel size(mm)\thead circumference (mm)\n000_HC.png\t0.0691\t44.3\n", "tabs"),
])
def test_a_spreadsheet_export_with_another_separator_is_named_as_such(tmp_path, text, separator):
    """A European spreadsheet saves CSV with ';' (and decimal commas): read with ',' its row 2
    was "pixel size '0691;44' is not a number", which says nothing of the cause."""
    path = _write(tmp_path, "\ufeff" + text)
    with pytest.raises(ValueError) as err:
        hc18_csv.read_hc18_csv(path, with_hc=True)
    assert str(err.value) == (
        f"{path}: its fields are separated by {separator}, not commas (a spreadsheet's export in "
        "another locale?): save it as CSV with ',' between fields and '.' as the decimal point")


@pytest.mark.parametrize("header,line,with_hc", [
    ("filename,pixel size(mm)", "011_HC.png,1,15", False),   # 1.15 read as 1.0: HC 1287 mm
    ("filename,pixel size(mm)", "011_HC.png,0,1", False),    # was "pixel size '0' is not positive"
    (TRAIN_HEADER, "011_HC.png,0,069,44.3", True),
    (TRAIN_HEADER, "011_HC.png,0.069,44,3", True),            # the HC split in two
    (TRAIN_HEADER, "011_HC.png,0,069,44.3", False),           # predict with HC18's training CSV
])
def test_a_row_with_more_fields_than_its_header_is_refused_as_a_decimal_comma(tmp_path, header, line,
                                                                               with_hc):
    """A decimal comma splits a number in two fields; the first half was read as the whole."""
    path = _write(tmp_path, f"{header}\r\n{line}\r\n")
    fields, wanted = len(line.split(",")), len(header.split(","))
    message = (f"{path} row 2 (011_HC.png): {fields} fields, but the header has {wanted}; a decimal "
               "comma? the CSV takes ',' between fields and '.' as the decimal point")
    with pytest.raises(ValueError) as err:
        hc18_csv.read_hc18_csv(path, with_hc=with_hc)
    assert str(err.value) == message
    table = hc18_csv.read_hc18_csv(path, with_hc=with_hc, skip_invalid=True)
    assert table.rows == [] and table.problems == [("011_HC.png", message)]


def test_empty_fields_past_the_header_are_allowed(tmp_path):
    """A trailing ',' holds nothing to misread."""
    path = _write(tmp_path, "filename,pixel size(mm)\n000_HC.png,0.1,\n001_HC.png,0.2, ,\n")
    assert hc18_csv.read_hc18_csv(path).pixel_sizes() == {"000_HC.png": 0.1, "001_HC.png": 0.2}


def test_the_dicom_reference_csv_refuses_a_decimal_comma_too(tmp_path):
    from hc_tf.surfaces import dicom_evaluate
    path = _write(tmp_path, "filename,head circumference (mm)\nscan.dcm,250,5\n")
    with pytest.raises(ValueError, match=r"row 2 \(scan.dcm\): 3 fields, but the header has 2; a "
                                         r"decimal comma\?"):
        dicom_evaluate.read_reference_csv(path)


@pytest.mark.parametrize("cell", ["0.1_5", "infinity", "inf", "nan", "0x1p-3", "\u0660.\u0661\u0665",
                                  "1e", ".", "+", "0.1.5", "1e-1_0"])
def test_a_number_float_reads_but_a_person_would_not_write_is_refused(tmp_path, cell):
    # float("0.1_5") is 0.15: read as that pixel size without a word
    path = _write(tmp_path, f"filename,pixel size(mm),head circumference (mm)\n"
                            f"000_HC.png,{cell},44.3\n001_HC.png,0.1,{cell}\n")
    with pytest.raises(ValueError) as err:
        hc18_csv.read_hc18_csv(path, with_hc=True, skip_invalid=False)
    assert str(err.value) == (f"{path} row 2 (000_HC.png): pixel size {cell!r} is not a number (a "
                              "plain decimal one: digits, one '.', an optional exponent such as e-3)")
    table = hc18_csv.read_hc18_csv(path, with_hc=True, skip_invalid=True)
    assert [p[1].split(": ", 1)[1].split(" is ")[0] for p in table.problems] == [
        f"pixel size {cell!r}", f"HC {cell!r}"]


@pytest.mark.parametrize("cell,value", [(" 1e-1 ", 0.1), ("0.15", 0.15), (".2", 0.2), ("2.", 2.0),
                                        ("+0.3", 0.3), ("15E-2", 0.15)])
def test_plain_decimal_numbers_are_read(tmp_path, cell, value):
    path = _write(tmp_path, f"filename,pixel size(mm)\n000_HC.png,{cell}\n")
    assert hc18_csv.read_hc18_csv(path).pixel_sizes() == {"000_HC.png": value}


def test_a_ga_cell_float_reads_but_a_person_would_not_write_is_refused(tmp_path):
    from hc_tf.surfaces import predict_inputs
    path = _write(tmp_path, "filename,pixel size(mm),ga_weeks\n000_HC.png,0.1,2_7\n")
    with pytest.raises(ValueError, match=r"row 2 \(000_HC.png\): GA '2_7' is not a number"):
        predict_inputs.read_pixel_csv(path)  # was 27 weeks


@pytest.mark.parametrize("header,columns", [
    ("filename,pixel size(mm),exam,exam", "'exam' 2 times (columns 3 and 4)"),
    ("filename,pixel size(mm),GA_weeks,ga_weeks ", "'GA_weeks' 2 times (columns 3 and 4)"),
    ("filename,pixel size(mm),filename", "'filename' 2 times (columns 1 and 3)")])
def test_a_header_naming_a_column_twice_is_refused(tmp_path, header, columns):
    path = _write(tmp_path, f"{header}\n000_HC.png,0.1,a,b\n")
    with pytest.raises(ValueError) as err:
        hc18_csv.read_hc18_csv(path)
    assert str(err.value) == (f"{path}: the header names column {columns}; which to read can't "
                              "be guessed: rename or remove all but one")
    ok = _write(tmp_path, "filename,pixel size(mm),,\n000_HC.png,0.1,,\n", "ok.csv")
    assert hc18_csv.read_hc18_csv(ok).pixel_sizes() == {"000_HC.png": 0.1}  # unnamed: fine


def test_the_dicom_reference_csv_refuses_odd_numbers_and_a_column_named_twice(tmp_path):
    from hc_tf.surfaces import dicom_evaluate
    odd = _write(tmp_path, "filename,hc\nscan.dcm,1_80\n")
    with pytest.raises(ValueError, match=r"row 2: needs a file name and a positive HC, got "
                                         r"'scan.dcm', '1_80'"):
        dicom_evaluate.read_reference_csv(odd)
    twice = _write(tmp_path, "filename,hc,HC\nscan.dcm,180,190\n", "twice.csv")
    with pytest.raises(ValueError, match="the header names column 'hc' 2 times"):
        dicom_evaluate.read_reference_csv(twice)


def test_the_dicom_reference_csv_refuses_a_reference_hc_no_fetal_head_has(tmp_path):
    from hc_tf.surfaces import dicom_evaluate
    huge = _write(tmp_path, "filename,hc\nscan.dcm,1e308\n")
    with pytest.raises(ValueError, match=r"row 2 \(scan.dcm\): reference HC 1e308 mm is over "
                                         r"600 mm"):
        dicom_evaluate.read_reference_csv(huge)
