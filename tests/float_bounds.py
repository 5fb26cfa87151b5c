"""Error bounds that IEEE arithmetic guarantees on any x86-64 CPU, for the tests' tolerances.

A library may sum in any order (vector width, blocking and threads differ between CPUs), so a bound that
holds for every order is the one a tolerance may rest on: the computed sum of n terms is within
gamma(n - 1) * sum(|x_i|) of the exact sum (Higham, Accuracy and Stability of Numerical Algorithms, 4.2).
"""
F32 = 2.0 ** -24  # float32 unit roundoff
F64 = 2.0 ** -53  # float64 unit roundoff


def gamma(n: int, u: float) -> float:
    """Higham's gamma_n: the relative error of n chained roundings, each within u."""
    assert n * u < 1
    return n * u / (1 - n * u)


def sum_rel(n: int, u: float) -> float:
    """Relative error of a computed sum of n terms of one sign, in any order (the per-token NLLs are >= 0)."""
    return gamma(max(n - 1, 0), u)
