"""The folded channels-last batch norm is F.batch_norm: outputs, gradients, running statistics (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from automl_nas.nn import folded_batch_norm
from automl_nas.nn.folded_batch_norm import batch_norm, fold_factor
from automl_nas.testing import script_fixture

CL = torch.channels_last


def _input(c: int, *, n: int = 8, hw: int = 6, dtype=torch.float64, offset: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(c)
    return (torch.randn(n, c, hw, hw, generator=g, dtype=dtype) * 2 + offset).contiguous(memory_format=CL)


@pytest.mark.parametrize("c, expected", [(4, 4), (8, 2), (12, 4), (24, 2), (3, 16), (16, 0), (32, 0), (64, 0), (72, 0)])
def test_fold_factor_makes_rows_a_multiple_of_16_channels_wide(c, expected):
    assert fold_factor(_input(c, n=16, hw=8, dtype=torch.float32)) == expected


def test_fold_factor_declines_what_it_cannot_fold():
    x = _input(8, dtype=torch.float32)
    assert fold_factor(x.contiguous()) == 0  # NCHW: ATen's NCHW kernel
    assert fold_factor(x.to(torch.bfloat16)) == 0  # autocast dtypes keep ATen's kernel
    assert fold_factor(torch.randn(1, 8, 1, 1)) == 0  # dense in both layouts
    assert fold_factor(torch.randn(3, 8, 1, 1).contiguous(memory_format=CL)[:, :, :, :]) == 0  # 3 pixels: cannot fold
    assert fold_factor(torch.randn(1, 24, 1, 3).contiguous(memory_format=CL)) == 0  # 3 pixels, odd


@pytest.mark.parametrize("c", [4, 8, 12, 24])
@pytest.mark.parametrize("affine", [True, False])
def test_folded_equals_aten_forward_backward_and_running_stats(c, affine):
    assert fold_factor(_input(c)) > 0
    x1 = _input(c).requires_grad_()
    x2 = _input(c).requires_grad_()
    weight = torch.rand(c, dtype=torch.float64) + 0.5 if affine else None
    bias = torch.randn(c, dtype=torch.float64) if affine else None
    params1 = [p.clone().requires_grad_() for p in (weight, bias) if p is not None]
    params2 = [p.clone().requires_grad_() for p in (weight, bias) if p is not None]
    stats1 = [torch.randn(c, dtype=torch.float64), torch.rand(c, dtype=torch.float64) + 1]
    stats2 = [s.clone() for s in stats1]
    y1 = batch_norm(x1, *stats1, *(params1 or [None, None]), True, 0.1, 1e-5)
    y2 = F.batch_norm(x2, *stats2, *(params2 or [None, None]), True, 0.1, 1e-5)
    assert y1.is_contiguous(memory_format=CL)
    torch.testing.assert_close(y1, y2, rtol=1e-12, atol=1e-12)
    for s1, s2 in zip(stats1, stats2):  # running mean, and the unbiased running variance
        torch.testing.assert_close(s1, s2, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y1)
    grads1 = torch.autograd.grad(y1, [x1, *params1], g)
    grads2 = torch.autograd.grad(y2, [x2, *params2], g)
    for a, b in zip(grads1, grads2):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_fp32_is_as_accurate_as_aten_on_an_offset_input():
    """The mean is taken out before the variance and the gradient dot: a large offset costs no
    digits. Both kernels in fp32 against fp64's answer (ATen's own fp32 errors here: ~1e-6 for
    the input gradient, ~2e-5 for the weight gradient, relative to the largest entry)."""
    g = torch.Generator().manual_seed(5)
    x = _input(8, n=16, hw=8, dtype=torch.float32, offset=100.0)
    w = torch.rand(8, generator=g) + 0.5
    grad = torch.randn(x.shape, generator=g)
    xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
    yd = F.batch_norm(xd, None, None, wd, None, True, 0.1, 1e-5)
    want = (yd, *torch.autograd.grad(yd, (xd, wd), grad.double()))
    errors = {}  # output, input gradient, weight gradient: max error relative to the largest entry
    for name, fn in (("folded", batch_norm), ("aten", F.batch_norm)):
        xx, ww = x.clone().requires_grad_(), w.clone().requires_grad_()
        y = fn(xx, None, None, ww, None, True, 0.1, 1e-5)
        got = (y, *torch.autograd.grad(y, (xx, ww), grad))
        errors[name] = [((a.double() - b).abs().max() / b.abs().max()).item() for a, b in zip(got, want)]
    assert max(errors["folded"]) < 1e-4, errors
    assert all(f <= 2 * a + 1e-7 for f, a in zip(errors["folded"], errors["aten"])), errors


def test_channels_first_gradient_is_accepted():
    x = _input(4).requires_grad_()
    y = batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    g = torch.randn(y.shape, dtype=y.dtype)  # NCHW gradient
    ref = torch.autograd.grad(F.batch_norm(x, None, None, None, None, True, 0.1, 1e-5), x, g)[0]
    torch.testing.assert_close(torch.autograd.grad(y, x, g)[0], ref)


def test_only_training_calls_on_slow_widths_take_the_folded_kernel(monkeypatch):
    calls = []
    real = folded_batch_norm._FoldedBatchNorm.apply
    monkeypatch.setattr(folded_batch_norm._FoldedBatchNorm, "apply", lambda *a: calls.append(a) or real(*a))
    x, mean, var = _input(8), torch.zeros(8, dtype=torch.float64), torch.ones(8, dtype=torch.float64)
    batch_norm(x, mean, var, None, None, False, 0.1, 1e-5)  # evaluation: running statistics
    batch_norm(_input(16), None, None, None, None, True, 0.1, 1e-5)  # a multiple of 16: ATen is fast
    assert calls == []
    batch_norm(x, mean, var, None, None, True, 0.1, 1e-5)
    assert len(calls) == 1


def test_second_derivatives_match_aten():
    """Hessian-vector products (the engine's eigenvalue diagnostic) go through the folded BN too."""
    hvps = []
    for fn in (batch_norm, F.batch_norm):
        x = _input(8).requires_grad_()
        w = (torch.rand(8, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) + 0.5).requires_grad_()
        r = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        y = fn(x, None, None, w, None, True, 0.1, 1e-5)
        (gw,) = torch.autograd.grad(((y * r) ** 2).sum(), w, create_graph=True)
        hvps.append(torch.autograd.grad(gw.sum(), (x, w)))
    for a, b in zip(*hvps):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert hvps[0][1].abs().max() > 0


def test_output_is_a_tensor_of_its_own_that_callers_may_update_in_place():
    x = _input(8).requires_grad_()
    y = batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    assert y._base is None and y.is_contiguous(memory_format=CL)
    z = y.add_(1.0)  # a view made inside an autograd.Function would refuse this
    (g,) = torch.autograd.grad(z.sum(), x)
    ref = F.batch_norm(x, None, None, None, None, True, 0.1, 1e-5) + 1.0
    torch.testing.assert_close(g, torch.autograd.grad(ref.sum(), x)[0])


bn_widths = script_fixture(Path(__file__).resolve().parents[1] / "benchmarks" / "bn_widths.py")


def test_bn_widths_benchmark_times_both_kernels_where_folding_applies(bn_widths, capsys):
    bn_widths.main(["--channels", "8", "16", "--hw", "4", "--batch", "4", "--rounds", "1", "--reps", "1", "--threads", "1"])
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"8", "16"}
    assert float(rows["8"][0]) > 0 and float(rows["8"][1]) > 0 and rows["8"][2] == "2"  # folded 2 pixels a row
    assert rows["16"][1] == "-" and rows["16"][2] == "0"  # a multiple of 16: ATen only
