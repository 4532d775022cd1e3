"""Python pickles from files the tool does not control (data batches, benchmark tables), read
without running their code.

``pickle.load`` imports and calls whatever global a (damaged or tampered) file names; the
loader here resolves only the globals a format needs and refuses any other by name.
"""

from __future__ import annotations

import pickle
from typing import IO, AbstractSet, Any, Mapping

__all__ = ["NUMPY_ARRAYS", "restricted_load"]

#: The numpy globals that rebuild arrays, dtypes and scalars (numpy 2 renamed ``numpy.core`` to
#: ``numpy._core``; files written by numpy 1 name the old module).
NUMPY_ARRAYS: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
})


def restricted_load(fh: IO[bytes], allowed: AbstractSet[tuple[str, str]] | Mapping[tuple[str, str], Any], *,
                    what: str, encoding: str = "ASCII") -> Any:
    """One object unpickled from ``fh``.

    ``allowed``: the ``(module, name)`` globals the format needs, as a set (each resolved as
    usual) or a mapping to the object that stands in for it (a plain class instead of a
    package's). Any other global raises :class:`pickle.UnpicklingError` naming it and ``what``
    (``"a data batch"``). ``encoding`` as for :class:`pickle.Unpickler` (``latin1`` for pickles
    written by Python 2)."""
    return _Restricted(fh, allowed, what, encoding=encoding).load()


class _Restricted(pickle.Unpickler):
    def __init__(self, fh: IO[bytes], allowed: Any, what: str, *, encoding: str) -> None:
        super().__init__(fh, encoding=encoding)
        self.allowed, self.what = allowed, what

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if isinstance(self.allowed, Mapping):
            if key in self.allowed:
                return self.allowed[key]
        elif key in self.allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in {self.what}")
