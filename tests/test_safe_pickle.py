"""The host's restricted unpickler (automl_nas.safe_pickle), shared by the plugins that read
pickles they do not control (data batches, benchmark tables, torch.save headers)."""

from __future__ import annotations

import collections
import io
import os
import pickle

import numpy as np
import pytest

from automl_nas.safe_pickle import NUMPY_ARRAYS, restricted_load


class _Stand:
    pass


def test_allowed_globals_resolve_and_numpy_arrays_round_trip():
    data = {"x": np.arange(6, dtype=np.uint8).reshape(2, 3), "s": np.float32(1.5),
            "o": collections.OrderedDict(a=1)}
    out = restricted_load(io.BytesIO(pickle.dumps(data)), NUMPY_ARRAYS | {("collections", "OrderedDict")},
                          what="a test file")
    assert (out["x"] == data["x"]).all() and out["s"] == 1.5 and out["o"] == {"a": 1}


def test_a_global_outside_the_list_is_refused_by_name_and_never_called():
    hostile = pickle.dumps(os.system)  # a file that would run a command when loaded
    with pytest.raises(pickle.UnpicklingError, match=r"global posix\.system is not allowed in a data batch"):
        restricted_load(io.BytesIO(hostile), NUMPY_ARRAYS, what="a data batch")
    with pytest.raises(pickle.UnpicklingError, match="numpy.*is not allowed in a header"):  # nothing unless listed
        restricted_load(io.BytesIO(pickle.dumps(np.zeros(2))), set(), what="a header")


def test_a_mapping_puts_stand_ins_in_place_of_a_package_s_classes():
    import types

    module = types.ModuleType("somepkg_data")
    Record = type("Record", (), {"__module__": "somepkg_data", "__qualname__": "Record"})
    module.Record = Record
    import sys

    sys.modules["somepkg_data"] = module
    try:
        blob = pickle.dumps(Record())
    finally:
        del sys.modules["somepkg_data"]
    out = restricted_load(io.BytesIO(blob), {("somepkg_data", "Record"): _Stand}, what="a table")
    assert type(out) is _Stand
