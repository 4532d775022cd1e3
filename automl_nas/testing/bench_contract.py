"""Contract suite for benchmark tables (``automl_register_benchmarks``): subclass, give a ``table``.

Example::

    class TestMyTable(BenchmarkTableContract):
        @pytest.fixture
        def table(self):
            return MyTable()

``tests/test_conformance.py`` runs it over every registered table. Nothing here downloads.
"""

from __future__ import annotations

import pytest

from automl_nas.benchstore import BenchmarkTable, TableStatus, TableStore
from automl_nas.errors import AutomlError

__all__ = ["BenchmarkTableContract"]


class BenchmarkTableContract:
    """Needs a ``table`` fixture (a :class:`~automl_nas.benchstore.BenchmarkTable`)."""

    def test_describes_itself(self, table):
        assert isinstance(table, BenchmarkTable)
        assert table.name and table.summary, "a table has a name and a one-line summary for `automl bench list`"
        assert table.how_to_get().strip(), "how_to_get() names the command or package that installs the table"

    def test_status_of_an_empty_store(self, table, tmp_path):
        status = table.status(TableStore(tmp_path / "empty"))
        assert isinstance(status, TableStatus)
        if status.installed:  # embedded tables are installed without the store
            assert status.where, "an installed table says where it is"
        else:
            assert status.how.strip(), "a missing table says how to get it"

    def test_missing_source_is_a_user_error(self, table, tmp_path):
        store = TableStore(tmp_path / "store")
        with pytest.raises(AutomlError) as info:
            table.import_from(tmp_path / "does-not-exist.bin", store)
        assert info.value.hint, "the refusal names the fix"
        assert store.manifest(table.name) is None, "a refused import writes nothing"
