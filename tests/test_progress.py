"""Progress output (issue 19): a live line when stderr is a terminal, the familiar log lines
when it is not, and Python logging underneath so that users can route or silence it."""

from __future__ import annotations

import io
import logging

import pytest

from automl_nas.builtin.progress import LOGGER, ProgressReporter
from automl_nas.testing import run_recipe
from tests.conftest import TOY_RECIPE

TOY = TOY_RECIPE.format(data_extra="")
FAST = ["search.steps_per_epoch=3", "search.epochs=2"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _handler_removed_after_the_run():
    yield
    assert not logging.getLogger(LOGGER).handlers and logging.getLogger(LOGGER).propagate


def test_a_terminal_gets_a_live_line_with_steps_loss_acc_and_eta(tmp_path):
    tty = _Tty()
    run_recipe(tmp_path, TOY, plugins=[(ProgressReporter(stream=tty), "live")], overrides=FAST)
    out = tty.getvalue()
    assert "\r" in out  # redrawn in place
    assert "epoch 1/2 3/3" in out and "epoch 2/2 3/3" in out
    assert "loss " in out and "acc " in out and "ETA " in out
    assert "T " not in out.split("epoch 2/2")[0]  # no temperature before the first epoch record (toy has none)
    lines = [ln.strip("\r") for ln in out.splitlines()]
    assert any(ln.startswith("epoch 1/2 loss") for ln in lines) and any(ln.startswith("finished: toy:") for ln in lines)


def test_without_a_terminal_the_log_lines_stay(tmp_path):
    plain = io.StringIO()
    run_recipe(tmp_path, TOY, plugins=[(ProgressReporter(stream=plain, every_s=0.0), "lines")], overrides=FAST)
    out = plain.getvalue()
    assert "\r" not in out
    assert "  epoch 1/2 step 2/3 loss" in out and "epoch 2/2 loss" in out and "ETA" in out


def test_logging_routes_it(tmp_path):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    stream = io.StringIO()
    logger = logging.getLogger(LOGGER)
    handler = Keep()
    logger.addHandler(handler)  # the user routes the progress logger: the reporter prints nothing itself
    try:
        run_recipe(tmp_path, TOY, plugins=[(ProgressReporter(stream=stream), "routed")], overrides=FAST)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == ""
    messages = [r.getMessage() for r in records]
    assert messages[0].startswith("run ") and messages[-1].startswith("finished: toy:")
    assert sum(m.startswith("epoch ") for m in messages) == 2 and all(r.levelno == logging.INFO for r in records)


@pytest.mark.parametrize("name", [LOGGER, "automl_nas"])
def test_a_level_the_user_set_silences_it_and_is_left_as_it_was(tmp_path, name):
    """README: raise the logger's level to silence it. The reporter set INFO over the user's
    level (and left it so after the run), so every line was printed anyway."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    try:
        for stream in (_Tty(), io.StringIO()):
            run_recipe(tmp_path, TOY, plugins=[(ProgressReporter(stream=stream, every_s=0.0), "quiet")], overrides=FAST)
            assert stream.getvalue() == "", stream.getvalue()
            assert logger.level == logging.WARNING
        assert logging.getLogger(LOGGER).level == (logging.WARNING if name == LOGGER else logging.NOTSET)
    finally:
        logger.setLevel(logging.NOTSET)
    run_recipe(tmp_path, TOY, plugins=[(ProgressReporter(stream=io.StringIO()), "default")], overrides=FAST)
    assert logging.getLogger(LOGGER).level == logging.NOTSET  # the CLI's INFO was the run's only
