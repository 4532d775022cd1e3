"""The benchmark store: installed lookup tables under ``$AUTOML_NAS_HOME/benchmarks``.

Light: importing it reads no file and imports neither torch nor pyarrow.
"""

from __future__ import annotations

from automl_nas.benchstore._api import BenchmarkTable, Progress, TableStatus, describe
from automl_nas.benchstore._home import (DEFAULT_DATA_ROOT, automl_home, data_dir, data_root, file_in_the_way,
                                         store_root, store_variable)
from automl_nas.benchstore._manifest import FORMAT_VERSION, Manifest
from automl_nas.benchstore._shipped import PackedStore, mark_used, pack_store, unpack_store, unpacked_path, using_store
from automl_nas.benchstore._store import TableStore, file_sha256

__all__ = [
    "DEFAULT_DATA_ROOT",
    "FORMAT_VERSION",
    "BenchmarkTable",
    "Manifest",
    "PackedStore",
    "Progress",
    "TableStatus",
    "TableStore",
    "automl_home",
    "data_dir",
    "data_root",
    "describe",
    "file_in_the_way",
    "file_sha256",
    "mark_used",
    "pack_store",
    "store_root",
    "store_variable",
    "unpack_store",
    "unpacked_path",
    "using_store",
]
