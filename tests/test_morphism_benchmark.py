"""benchmarks/morphism.py's rows on tiny budgets: both methods train the same epochs; the table part
runs morphism, REA and random on the NB201 table (issue 18)."""

from __future__ import annotations

from pathlib import Path

from automl_nas.testing import script_fixture

REPO = Path(__file__).resolve().parents[1]
CSV = REPO.parent / "shared" / "benchmarks" / "nb201-test-accuracy.csv"


bench = script_fixture(REPO / "benchmarks" / "morphism.py")


def test_macro_rows_compare_at_equal_epochs(bench):
    from automl_nas.session import open_session
    from automl_nas_data_vision.config import DigitsConfig

    data = open_session().registry.create("dataset", "digits", DigitsConfig(size=8)).load()
    rows = bench.macro_rows(data, seeds=1, queries=2, epochs=1, channels=4, stages=2, threads=1, log=lambda m: None)
    assert set(rows) == {"morphism+warm", "random+scratch"}
    assert rows["morphism+warm"]["epochs"] == rows["random+scratch"]["epochs"] == [2]
    assert all(0 < row["best"][0] <= 100 and row["train_s"][0] > 0 for row in rows.values())


def test_nb201_rows_run_every_method_on_the_table(bench):
    rows, how = bench.nb201_rows(seeds=2, queries=10, table=str(CSV))
    assert set(rows) == {"morphism", "rea", "random"} and "OPTIMISTIC" in how
    assert all(len(v) == 2 and 80 < min(v) <= max(v) <= 94.37 for v in rows.values())
