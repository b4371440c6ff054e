"""The CSV writer: a text cell a spreadsheet would run as a formula is written inert."""

from __future__ import annotations

import csv

from hc_tf.io import tables

# (value, cell as written); the app's csvCell gives the same (web_app/test/csv_cell.test.js)
CASES = [('=HYPERLINK("x";"y").png', '\'=HYPERLINK("x";"y").png'),
         ("+1.2.3/=cmd|calc!A1", "'+1.2.3/=cmd|calc!A1"), ("-x.png", "'-x.png"),
         ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("000_HC.png", "000_HC.png"),
         ("a=b", "a=b"), (-1.5, "-1.5000"), (-2, "-2"), (True, "True"), (None, "")]


def test_text_a_spreadsheet_would_run_gets_a_leading_quote_numbers_do_not(tmp_path):
    path = tmp_path / "t.csv"
    tables.write_rows_csv(str(path), [{"v": v} for v, _ in CASES], ["v"])
    with open(path, newline="", encoding="utf-8") as f:
        cells = [row["v"] for row in csv.DictReader(f)]
    assert cells == [want for _, want in CASES]
