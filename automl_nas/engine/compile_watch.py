"""What ``torch.compile`` made of the supernet (issue 15): one note when it could not keep a step whole.

CUDA graphs (``run.compile_mode = "reduce-overhead"``) capture what dynamo holds in a graph. A
supernet whose forward dynamo breaks (an op whose output shape depends on the data, such as the
``nonzero`` in PyTorch Geometric's self-loop handling) still runs, in pieces with eager code
between them, and the speed-up shrinks or goes. That is not an error, so the run goes on; the user
learns it once, with the most frequent reason, instead of from a slow search.

:func:`dynamo_graphs` and :func:`dynamo_breaks` read dynamo's process-wide counters for this note,
for ``benchmarks/step_time.py``'s compiled rows and for the tests; :func:`whole` is what a healthy
compiled supernet looks like.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["GraphWatch", "dynamo_breaks", "dynamo_graphs", "whole"]


def dynamo_graphs() -> int:
    """Graphs dynamo has built in this process."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def dynamo_breaks() -> Counter[str]:
    """Graph breaks, and the frames dynamo gave up on and ran eager (which count as no graph break),
    in this process, by the first line of their reason."""
    from torch._dynamo.utils import counters

    reasons: Counter[str] = Counter()
    for table in (counters["graph_break"], counters["unimplemented"]):
        for reason, count in table.items():
            reasons[reason.strip().split("\n")[0].rstrip(".")] += count
    return reasons


def whole(graphs: int, breaks: int) -> bool:
    """One graph per kind of step (the weight and the arch step may trace apart), nothing eager."""
    return 1 <= graphs <= 2 and breaks == 0


class GraphWatch:
    """Call :meth:`after_call` after each compiled forward; it returns the note once, after both
    kinds of step have been traced, if dynamo broke the forward or gave up on frames of it."""

    CALLS = 3  # the weight step and the arch step traced, then one more call

    def __init__(self) -> None:
        self.calls = 0
        self.done = False

    def after_call(self) -> str | None:
        if self.done:
            return None
        self.calls += 1
        if self.calls < self.CALLS:
            return None
        self.done = True
        reasons = dynamo_breaks()
        if not reasons:
            return None
        reason, count = reasons.most_common(1)[0]
        return (f"run.compile: torch.compile split the supernet into {dynamo_graphs()} graphs ({sum(reasons.values())} "
                f"graph breaks or eager frames; most often, {count}x: {reason}); the search goes on, but CUDA graphs "
                f"capture only the pieces. TORCH_LOGS=graph_breaks shows where; run.compile = false runs it eager")
