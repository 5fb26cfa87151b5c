"""Error bounds that IEEE arithmetic guarantees on any x86-64 CPU, for the tests' tolerances.

A library may add in any order (vector width, blocking and threads differ between CPUs), so a tolerance rests
on a bound that holds for every order: a computed sum of n terms is within gamma(n - 1, u) * sum(|x_i|) of the
exact sum, and a chain of n roundings moves a product or quotient by at most gamma(n, u) relative (Higham,
Accuracy and Stability of Numerical Algorithms, 3.1 and 4.2).
"""
F32 = 2.0 ** -24  # float32 unit roundoff
F64 = 2.0 ** -53  # float64 unit roundoff


def gamma(n: int, u: float) -> float:
    """Higham's gamma_n: the relative error of n chained roundings, each within u."""
    assert n * u < 1
    return n * u / (1 - n * u)
