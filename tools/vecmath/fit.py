#!/usr/bin/python3
"""Fits the polynomials of backends/ref/ref_vecmath.h.

Each is a near-minimax fit of the function's remainder after its leading
terms, weighted so that the error measured is the relative error of the
final result, by Lawson's iteratively reweighted least squares on
Chebyshev nodes (numpy).  Prints the coefficients (constant term first,
the order the C code evaluates them last-to-first by Horner) and the
error of the fit in float64; tests/test_vecmath.c measures the float32
code.  Run: /usr/bin/python3 tools/vecmath/fit.py
"""
import numpy as np


def lawson(target, degree, lo, hi, weight, iters=200, nodes=4000):
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
    a = np.stack([x ** k for k in range(degree + 1)], 1) * weight(x)[:, None]
    y = target(x) * weight(x)
    w = np.ones(nodes) / nodes
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        err = np.abs(a @ c - y)
        w = w * err
        w /= w.sum()
    return c, err.max()


def safe(f, at0):
    return lambda v: np.where(np.abs(v) > 1e-9, f(np.where(np.abs(v) > 1e-9, v, 1.0)), at0)


def show(name, c, err):
    print("%-28s rel. error %.3g: %s" % (name, err, ", ".join("%.9g" % v for v in c)))


# e^r = 1 + r + r^2 P(r) on |r| <= ln2/2 -> ref_exp_poly_ (degree 5 in r)
L = np.log(2) / 2 * 1.01
c, e = lawson(safe(lambda r: (np.exp(r) - 1 - r) / r ** 2, 0.5), 3, -L, L, lambda r: r * r / np.exp(r))
show("exp: e^r = 1 + r + r^2 P", c, e)

# e^r - 1 = r + r^2 Q(r) -> ref_expm1f_neg_
c, e = lawson(safe(lambda r: (np.expm1(r) - r) / r ** 2, 0.5), 4, -L, L,
              safe(lambda r: r * r / np.expm1(r), 0.0))
show("expm1: r + r^2 Q", c, e)

# log(1 + e) = e + e^2 P(e), e in [0, 1] -> ref_log1pf_unit_ (degree 7)
c, e = lawson(safe(lambda v: (np.log1p(v) - v) / v ** 2, -0.5), 7, 0, 1,
              safe(lambda v: v * v / np.log1p(v), 0.0))
show("log1p on [0,1]: e + e^2 P", c, e)

# log(1+f) = f - f^2/2 + f^3 Q(f), f in [sqrt(1/2)-1, sqrt(2)-1] -> ref_log1pf
c, e = lawson(safe(lambda f: (np.log1p(f) - f + f * f / 2) / f ** 3, 1 / 3), 6, np.sqrt(.5) - 1, np.sqrt(2) - 1,
              safe(lambda f: f ** 3 / np.log1p(f), 0.0))
show("log1p: f - f^2/2 + f^3 Q", c, e)
