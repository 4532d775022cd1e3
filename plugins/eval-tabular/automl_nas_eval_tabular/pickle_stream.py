"""Stream the entries of one dict out of a huge pickle, never holding the whole object.

Why: the NAS-Bench-201 ``.pth`` (4.7 GB on disk for v1.1) and the single-file NATS-Bench
archive are each *one* pickle; ``torch.load``/``pickle.load`` builds all of it (tens of GB).
Here the pickle is executed by a small restricted VM over :func:`pickletools.genops`:
entries stored into the dict under ``target_key`` (``"arch2infos"``) are handed to a
callback one by one and dropped -- each as soon as the next one starts, not when pickle's
batch of 1,000 entries closes. Two passes keep the memo small: the first finds the few
memo slots read back long after they were stored (:func:`last_reads`); the second keeps
every slot of the current window of operations plus those, each until its last read.
Memory is about one window of objects plus the shared strings; time is pure-Python opcode
decoding (a few MB/s).

Only plain data is built: dicts, lists, tuples, sets, strings, bytes, numbers, plus
``collections.OrderedDict`` and NumPy scalars (as ``torch.load(weights_only=True)`` allows).
Any other global, and persistent ids (tensors), raise :class:`StreamError`.
"""

from __future__ import annotations

import collections
import pickletools
from typing import IO, Any, Callable, Iterator

__all__ = ["StreamError", "last_reads", "stream_entries"]

Progress = Callable[[], None]
_REPORT_EVERY = 1 << 20  # operations between progress callbacks


class StreamError(ValueError):
    """The pickle holds something the restricted reader does not build."""


def _allowed(module: str, name: str) -> Any:
    if (module, name) == ("collections", "OrderedDict"):
        return collections.OrderedDict
    if module in ("builtins", "__builtin__") and name in ("set", "frozenset", "bytearray", "complex"):
        import builtins

        return getattr(builtins, name)  # protocol 2 writes sets as set([...])
    if (module, name) == ("_codecs", "encode"):  # protocol 2 writes bytes as _codecs.encode(text, "latin1")
        import codecs

        return codecs.encode
    if (module, name) in (("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype")):
        import importlib

        import numpy

        if name == "dtype":
            return numpy.dtype
        try:
            return importlib.import_module("numpy._core.multiarray").scalar
        except ImportError:  # numpy 1.x
            return importlib.import_module("numpy.core.multiarray").scalar
    raise StreamError(f"global {module}.{name} is not allowed in a benchmark file")


def _ops(stream: IO[bytes], tick: Progress | None) -> Iterator[tuple[str, Any]]:
    for n, (op, arg, _pos) in enumerate(pickletools.genops(stream)):
        if tick is not None and n % _REPORT_EVERY == 0:
            tick()
        yield op.name, arg


#: operations per liveness window (see :func:`last_reads`)
WINDOW = 1 << 18


def last_reads(stream: IO[bytes], tick: Progress | None = None) -> dict[int, int]:
    """Pass 1: the memo slots read back in a later window of :data:`WINDOW` operations than the
    one that stored them, each with the number of its last read.

    Reads within a window are served by keeping every slot of the current window; only the
    few slots shared across windows (strings such as data-set names, entries that straddle a
    boundary) need remembering, so this map stays small however large the file is.
    """
    import bisect

    first_slot: list[int] = []  # memo length at the start of each window
    cross: dict[int, int] = {}
    memo_len = 0
    for n, (name, arg) in enumerate(_ops(stream, tick)):
        if n % WINDOW == 0:
            first_slot.append(memo_len)
        if name == "MEMOIZE":
            memo_len += 1
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo_len = max(memo_len, int(arg) + 1)
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            slot = int(arg)
            if bisect.bisect_right(first_slot, slot) - 1 < n // WINDOW:
                cross[slot] = n
    return cross


def stream_entries(stream: IO[bytes], target_key: str, on_entry: Callable[[Any, Any], None],
                   live: dict[int, int], tick: Progress | None = None) -> Any:
    """Pass 2: execute the pickle; ``target_key``'s dict entries go to ``on_entry``, not memory.

    Returns the unpickled object, whose ``target_key`` dict is left empty.
    """
    vm = _Vm(target_key, on_entry, live)
    for n, (name, arg) in enumerate(_ops(stream, tick)):
        if n % WINDOW == 0:
            vm.next_window()
        if name == "STOP":
            return vm.stack.pop()
        vm.step(n, name, arg)
        if vm.batch_start is not None and len(vm.marks) == vm.batch_depth and len(vm.stack) - vm.batch_start == 3:
            vm.hand_over_finished_pair()
    raise StreamError("the pickle ended without STOP (truncated file?)")


class _Vm:
    """The subset of the pickle machine that plain data needs (protocols 2-5)."""

    def __init__(self, target_key: str, on_entry: Callable[[Any, Any], None], live: dict[int, int]) -> None:
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.memo_len = 0
        self.window_slots: list[int] = []
        self.live, self.target_key, self.on_entry = live, target_key, on_entry
        self.target: Any = None
        # Inside the target's MARK ... SETITEMS batch (up to 1,000 entries, pickle's batch size):
        # stack index of its first key, and the mark depth at which the batch's own items sit.
        self.batch_start: int | None = None
        self.batch_depth = 0

    def hand_over_finished_pair(self) -> None:
        """A key, its value and the next key sit on the batch: the value is finished if it is a
        non-empty dict (its own MARK ... SETITEMS has run; a dict still being filled by single
        SETITEMs is empty at this point), so hand the pair over now rather than at SETITEMS."""
        start = self.batch_start
        key, value = self.stack[start], self.stack[start + 1]
        if isinstance(value, dict) and value:
            del self.stack[start:start + 2]
            self.on_entry(key, value)

    def pop_mark(self) -> list[Any]:
        if self.batch_start is not None and len(self.marks) == self.batch_depth:
            self.batch_start = None
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def new_mapping(self, mapping: Any) -> None:
        if self.target is None and self.stack and self.stack[-1] == self.target_key:
            self.target = mapping
        self.stack.append(mapping)

    def set_items(self, mapping: Any, items: list[Any]) -> None:
        pairs = zip(items[::2], items[1::2])
        if mapping is self.target:
            for key, value in pairs:
                self.on_entry(key, value)
        else:
            for key, value in pairs:
                mapping[key] = value

    def put(self, index: int) -> None:
        self.memo[index] = self.stack[-1]
        self.window_slots.append(index)

    def get(self, n: int, index: int) -> None:
        try:
            self.stack.append(self.memo[index])
        except KeyError:
            raise StreamError(f"back-reference to memo slot {index} that was never stored") from None
        if self.live.get(index) == n:
            del self.memo[index]

    def next_window(self) -> None:
        """Forget the previous window's slots that no later window reads."""
        for index in self.window_slots:
            if index not in self.live:
                self.memo.pop(index, None)
        self.window_slots = []

    def step(self, n: int, name: str, arg: Any) -> None:
        """Execute one opcode (``n``: its number, for the memo's last reads)."""
        handler = _HANDLERS.get(name)
        if handler is None:  # PERSID/BINPERSID (tensors), EXT*, INST/OBJ, NEXT_BUFFER, ...
            raise StreamError(f"pickle opcode {name} is not supported in a benchmark file")
        handler(self, n, arg)

    # ---- one small handler per opcode family; each takes (vm, op number, argument)

    def _push_arg(self, _n: int, arg: Any) -> None:
        self.stack.append(arg)

    def _put(self, _n: int, arg: Any) -> None:
        self.put(int(arg))
        self.memo_len = max(self.memo_len, int(arg) + 1)

    def _memoize(self, _n: int, _arg: Any) -> None:
        self.put(self.memo_len)
        self.memo_len += 1

    def _get(self, n: int, arg: Any) -> None:
        self.get(n, int(arg))

    def _mark(self, _n: int, _arg: Any) -> None:
        stack = self.stack
        self.marks.append(len(stack))
        if self.target is not None and stack and stack[-1] is self.target and self.batch_start is None:
            self.batch_start, self.batch_depth = len(stack), len(self.marks)

    def _setitem(self, _n: int, _arg: Any) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        self.set_items(self.stack[-1], [key, value])

    def _setitems(self, _n: int, _arg: Any) -> None:
        items = self.pop_mark()
        self.set_items(self.stack[-1], items)

    def _append(self, _n: int, _arg: Any) -> None:
        value = self.stack.pop()
        self.stack[-1].append(value)

    def _appends(self, _n: int, _arg: Any) -> None:
        items = self.pop_mark()
        self.stack[-1].extend(items)

    def _additems(self, _n: int, _arg: Any) -> None:
        items = self.pop_mark()
        self.stack[-1].update(items)

    def _small_tuple(self, size: int) -> None:
        stack = self.stack
        items = tuple(stack[len(stack) - size:]) if size else ()
        del stack[len(stack) - size:]
        stack.append(items)

    def _dict(self, _n: int, _arg: Any) -> None:
        items = self.pop_mark()
        self.new_mapping(dict(zip(items[::2], items[1::2])))

    def _global(self, _n: int, arg: Any) -> None:
        module, _, attr = str(arg).partition(" ")
        self.stack.append(_allowed(module, attr))

    def _stack_global(self, _n: int, _arg: Any) -> None:
        attr, module = self.stack.pop(), self.stack.pop()
        self.stack.append(_allowed(module, attr))

    def _call(self, new_object: bool) -> None:
        args, func = self.stack.pop(), self.stack.pop()
        result = func.__new__(func, *args) if new_object else func(*args)
        if isinstance(result, dict):
            self.new_mapping(result)
        else:
            self.stack.append(result)

    def _build(self, _n: int, _arg: Any) -> None:
        state = self.stack.pop()
        setstate = getattr(self.stack[-1], "__setstate__", None)
        if setstate is None:
            raise StreamError(f"cannot restore the state of {type(self.stack[-1]).__name__}")
        setstate(state)


_HANDLERS: dict[str, Callable[[_Vm, int, Any], None]] = {
    **{name: _Vm._push_arg for name in (
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING", "BINSTRING",
        "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES",
        "BINBYTES8", "BYTEARRAY8")},
    "NONE": lambda vm, n, a: vm.stack.append(None),
    "NEWTRUE": lambda vm, n, a: vm.stack.append(True),
    "NEWFALSE": lambda vm, n, a: vm.stack.append(False),
    "BINPUT": _Vm._put, "LONG_BINPUT": _Vm._put, "PUT": _Vm._put, "MEMOIZE": _Vm._memoize,
    "BINGET": _Vm._get, "LONG_BINGET": _Vm._get, "GET": _Vm._get,
    "MARK": _Vm._mark, "POP": lambda vm, n, a: vm.stack.pop(), "POP_MARK": lambda vm, n, a: vm.pop_mark(),
    "DUP": lambda vm, n, a: vm.stack.append(vm.stack[-1]),
    "EMPTY_DICT": lambda vm, n, a: vm.new_mapping({}), "DICT": _Vm._dict,
    "SETITEM": _Vm._setitem, "SETITEMS": _Vm._setitems,
    "EMPTY_LIST": lambda vm, n, a: vm.stack.append([]), "LIST": lambda vm, n, a: vm.stack.append(vm.pop_mark()),
    "APPEND": _Vm._append, "APPENDS": _Vm._appends,
    "EMPTY_TUPLE": lambda vm, n, a: vm._small_tuple(0), "TUPLE1": lambda vm, n, a: vm._small_tuple(1),
    "TUPLE2": lambda vm, n, a: vm._small_tuple(2), "TUPLE3": lambda vm, n, a: vm._small_tuple(3),
    "TUPLE": lambda vm, n, a: vm.stack.append(tuple(vm.pop_mark())),
    "EMPTY_SET": lambda vm, n, a: vm.stack.append(set()), "ADDITEMS": _Vm._additems,
    "FROZENSET": lambda vm, n, a: vm.stack.append(frozenset(vm.pop_mark())),
    "PROTO": lambda vm, n, a: None, "FRAME": lambda vm, n, a: None,
    "GLOBAL": _Vm._global, "STACK_GLOBAL": _Vm._stack_global,
    "REDUCE": lambda vm, n, a: vm._call(False), "NEWOBJ": lambda vm, n, a: vm._call(True),
    "BUILD": _Vm._build,
}
