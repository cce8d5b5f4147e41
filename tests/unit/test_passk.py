"""pass@k: the combinatorial definition, edge cases, and confidence intervals over problems."""

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from trueloop.eval.passk import pass_at_k, pass_at_k_ci, pass_at_k_per_problem, passk_metrics


def exact(n, c, k):
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


@pytest.mark.parametrize("n", [1, 2, 5, 16, 100])
def test_matches_combinatorial_definition(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(exact(n, c, k), abs=1e-12)


def test_large_n_stays_exact():
    assert pass_at_k(2000, 3, 100) == pytest.approx(exact(2000, 3, 100), abs=1e-12)


def test_edge_cases():
    assert pass_at_k(10, 0, 5) == 0.0  # nothing correct
    assert pass_at_k(10, 10, 1) == 1.0  # everything correct
    assert pass_at_k(10, 1, 10) == 1.0  # k = n sees every sample
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the fraction correct
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - (7 * 6) / (10 * 9))


def test_unbiased_not_the_plugin_formula():
    # 1 - (1 - c/n)^k would give 1 - 0.5^2 = 0.75; without replacement it is 1 - 1/6
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid_arguments_raise(n, c, k):
    with pytest.raises(ValueError, match="pass@k needs"):
        pass_at_k(n, c, k)


def _counts(problems, n=8, seed=0):
    return np.random.default_rng(seed).binomial(n, 0.3, size=problems).tolist()


@pytest.mark.parametrize("method", ["bootstrap", "wilson"])
@pytest.mark.parametrize("k", [1, 4])
def test_ci_contains_mean_and_narrows_with_more_problems(method, k):
    small = pass_at_k_ci(_counts(20), 8, k, method=method)
    large = pass_at_k_ci(_counts(2000), 8, k, method=method)
    for mean, low, high in (small, large):
        assert 0.0 <= low <= mean <= high <= 1.0
    assert large[2] - large[1] < 0.5 * (small[2] - small[1])


def test_mean_is_mean_of_per_problem_estimates():
    counts = [0, 3, 8, 5]
    mean, _, _ = pass_at_k_ci(counts, 8, 2)
    assert mean == pytest.approx(np.mean([exact(8, c, 2) for c in counts]))
    expected = [exact(8, c, 2) for c in counts]
    np.testing.assert_allclose(pass_at_k_per_problem(counts, 8, 2), expected)


def test_bootstrap_is_seeded():
    counts = _counts(50)
    assert pass_at_k_ci(counts, 8, 1, seed=3) == pass_at_k_ci(counts, 8, 1, seed=3)
    assert pass_at_k_ci(counts, 8, 1, seed=3) != pass_at_k_ci(counts, 8, 1, seed=4)


def test_wilson_has_width_at_zero_where_bootstrap_collapses():
    _, blow, bhigh = pass_at_k_ci([0] * 30, 8, 1, method="bootstrap")
    _, wlow, whigh = pass_at_k_ci([0] * 30, 8, 1, method="wilson")
    assert blow == bhigh == 0.0
    assert wlow == 0.0 and whigh > 0.05


def test_wilson_matches_hand_formula():
    # 12 of 40 problems solved with n = 1: p = 0.3, z = 1.959964
    _, low, high = pass_at_k_ci([1] * 12 + [0] * 28, 1, 1, method="wilson")
    z, p, m = 1.959964, 0.3, 40
    center = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z / (1 + z * z / m) * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
    assert (low, high) == pytest.approx((center - half, center + half), abs=1e-5)


def test_ci_bad_arguments():
    with pytest.raises(ValueError, match="known"):
        pass_at_k_ci([1, 2], 8, 1, method="normal")
    with pytest.raises(ValueError, match="at least one problem"):
        pass_at_k_ci([], 8, 1)


def test_passk_metrics_names_and_skips_k_above_n():
    m = passk_metrics([1, 2, 0], 4, ks=(1, 4, 8))
    assert set(m) == {f"eval/pass@{k}{s}" for k in (1, 4) for s in ("", "_low", "_high")}
    assert m["eval/pass@1"] == pytest.approx(3 / 12)
