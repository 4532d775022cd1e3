"""automl-nas-blackbox: black-box proposers (ask/tell) over finite cell spaces."""

from __future__ import annotations
