"""``automl plot``: PNG figures and one self-contained HTML page for a run, a seed batch or a
study (issue 19). matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

from automl_nas.plots._make import PlotReport, plot_target

__all__ = ["PlotReport", "plot_target"]
