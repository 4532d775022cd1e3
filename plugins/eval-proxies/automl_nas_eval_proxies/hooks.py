"""Contribution hooks of the eval-proxies plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas_eval_proxies.config import BatchProxyConfig, NaswotConfig, SynflowConfig

_PKG = "automl_nas_eval_proxies"


@hookimpl
def automl_register_evaluators() -> list[Component]:
    return [
        Component(kind="evaluator", name="naswot", impl=f"{_PKG}.naswot:Naswot", config=NaswotConfig,
                  summary="zero-cost: log-det of the ReLU-code Hamming kernel (Mellor et al. 2021)"),
        Component(kind="evaluator", name="synflow", impl=f"{_PKG}.synflow:Synflow", config=SynflowConfig,
                  summary="zero-cost, data-free: synaptic flow |theta * dR/dtheta| (Tanaka et al. 2020)"),
        Component(kind="evaluator", name="snip", impl=f"{_PKG}.snip:Snip", config=BatchProxyConfig,
                  summary="zero-cost: connection sensitivity |theta * dL/dtheta| on one batch (Lee et al. 2019)"),
    ]
