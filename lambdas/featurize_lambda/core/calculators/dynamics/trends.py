"""Trends: ``linregress`` in closed form (with a numpy Student-t), chunk aggregates, energy ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner
from ...segments import Segments
from ._shared import _all_nan, _has_nan, _invalid, _range_sums

_TINY = 1.0e-20  # scipy's linregress guard against r = +-1


def _log_gamma_difference(a: float, h: float) -> float:
    """``lgamma(a) - lgamma(a + h)`` for ``0 < h <= 1``, without cancellation for large ``a``."""
    if a < 30:
        return math.lgamma(a) - math.lgamma(a + h)

    def series(z: float) -> float:  # Stirling's series beyond (z - 1/2) ln z - z + ln(2 pi) / 2
        z2 = z * z
        return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * z2)) / z2) / z2) / z2) / z

    return -h * math.log(a) - (a + h - 0.5) * math.log1p(h / a) + h + series(a) - series(a + h)


def _log_beta(a: float, b: float) -> float:
    """``ln B(a, b)``, accurate when one argument is large and the other small (b = 1/2 here)."""
    small, large = min(a, b), max(a, b)
    return math.lgamma(small) + _log_gamma_difference(large, small)


def _beta_fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The continued fraction of the incomplete beta function (modified Lentz), all entries at once."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    active = np.arange(len(x))
    for m in range(1, 100_000):
        m2 = 2.0 * m
        aa, bb, xx = a[active], b[active], x[active]
        cc, dd = c[active], d[active]
        step = m * (bb - m) * xx / ((qam[active] + m2) * (aa + m2))
        dd = 1.0 + step * dd
        dd = 1.0 / np.where(np.abs(dd) < tiny, tiny, dd)
        cc = 1.0 + step / cc
        cc = np.where(np.abs(cc) < tiny, tiny, cc)
        factor = dd * cc
        step = -(aa + m) * (qab[active] + m) * xx / ((aa + m2) * (qap[active] + m2))
        dd = 1.0 + step * dd
        dd = 1.0 / np.where(np.abs(dd) < tiny, tiny, dd)
        cc = 1.0 + step / cc
        cc = np.where(np.abs(cc) < tiny, tiny, cc)
        delta = dd * cc
        h[active] *= factor * delta
        c[active], d[active] = cc, dd
        active = active[np.abs(delta - 1.0) > 1e-16]
        if not len(active):
            break
    return h


def _regularized_beta(
    a: np.ndarray, b: np.ndarray, x: np.ndarray, one_minus_x: np.ndarray, log_x: np.ndarray, log_1mx: np.ndarray
) -> np.ndarray:
    """``I_x(a, b)`` for ``x`` in [0, 1], given ``1 - x``, ``ln x`` and ``ln(1 - x)`` computed accurately.

    The continued fraction converges fast for ``x < (a + 1) / (a + b + 2)``; otherwise the symmetry
    ``I_x(a, b) = 1 - I_{1-x}(b, a)`` is used (Numerical Recipes, 6.4).
    """
    out = np.full(len(x), np.nan)
    ok = ~np.isnan(x)
    direct = ok & (x < (a + 1.0) / (a + b + 2.0))
    swap = ok & ~direct
    log_beta = np.array([_log_beta(p, q) for p, q in zip(a, b, strict=True)])
    for rows, p, q, y, log_y, log_1my, flip in (
        (direct, a, b, x, log_x, log_1mx, False),
        (swap, b, a, one_minus_x, log_1mx, log_x, True),
    ):
        if not rows.any():
            continue
        pp, qq = p[rows], q[rows]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            front = np.exp(pp * log_y[rows] + qq * log_1my[rows] - log_beta[rows]) / pp
            value = front * _beta_fraction(pp, qq, y[rows])
        value = np.where(front == 0.0, 0.0, value)
        out[rows] = 1.0 - value if flip else value
    return out


def _bgrat_coefficients(b: float, terms: int = 30) -> np.ndarray:
    """The data-independent coefficients ``d_n`` of BGRAT (TOMS 708) for a fixed ``b``."""
    c: list[float] = []
    d: list[float] = []
    cn = 1.0
    for n in range(1, terms + 1):
        cn /= (2.0 * n) * (2.0 * n + 1.0)
        c.append(cn)
        total, coef = 0.0, b - n
        for i in range(1, n):
            total += coef * c[i - 1] * d[n - i - 1]
            coef += b
        d.append((b - 1.0) * cn + total / n)
    return np.array(d)


_BGRAT_HALF = _bgrat_coefficients(0.5)


def _beta_large_a_half(a: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    """``I_x(a, 1/2)`` for ``a > 15`` by the asymptotic expansion BGRAT (Didonato & Morris, TOMS 708).

    The expansion is in terms of ``Q(1/2, z) = erfc(sqrt(z))`` with ``z = -(a - 1/4) ln x``; it needs
    only ``ln x`` (accurate for ``x`` near 1, where the continued fraction loses digits for large a).
    """
    b = 0.5
    nu = a - 0.25
    z = -nu * log_x
    out = np.zeros(len(a))
    live = z < 700.0  # beyond, the p-value is below 1e-300
    if not live.any():
        return out
    a, nu, z, log_x = a[live], nu[live], z[live], log_x[live]
    log_r = b * np.log(z) - z - 0.5 * math.log(math.pi)  # r = exp(-z) z^b / Gamma(b)
    log_u = log_r - (np.array([_log_gamma_difference(float(v), b) for v in a]) + b * np.log(nu))
    q = np.array([math.erfc(math.sqrt(v)) for v in z])
    j = q * np.exp(-log_r)
    v = 0.25 / (nu * nu)
    t2 = 0.25 * log_x * log_x
    total = j.copy()
    t = np.ones(len(a))
    active = np.ones(len(a), dtype=bool)
    n2 = 0.0
    for d in _BGRAT_HALF:
        bp2n = b + n2
        j = (bp2n * (bp2n + 1.0) * j + (z + bp2n + 1.0) * t) * v
        n2 += 2.0
        t = t * t2
        term = d * j
        total = np.where(active, total + term, total)
        active &= np.abs(term) > 1e-16 * total
        if not active.any():
            break
    out[live] = np.exp(log_u) * total
    return out


def _beta_small_ay_half(a: np.ndarray, y: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    """``I_y(1/2, a)`` by its series of positive terms (DLMF 8.17.8), fast for ``a * y <= 1``.

    ``I_y(p, q) = y^p (1 - y)^q / (p B(p, q)) * sum_k (p + q)_k / (p + 1)_k y^k``.
    """
    log_beta = np.array([_log_beta(0.5, float(v)) for v in a])
    with np.errstate(divide="ignore"):
        front = np.exp(0.5 * np.log(y) + a * log_x - math.log(0.5) - log_beta)
    total = np.ones(len(a))
    term = np.ones(len(a))
    for k in range(1000):
        term = term * (a + 0.5 + k) / (1.5 + k) * y
        total += term
        if (term <= 1e-17 * total).all():
            break
    return front * total


def _student_t_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``2 * P(T > |t|)`` for Student's t with ``df`` degrees of freedom (scipy's ``2 * stdtr(df, -|t|)``).

    ``2 P(T > |t|) = I_x(df / 2, 1 / 2)`` with ``x = df / (df + t^2)``; ``x``, ``1 - x`` and their
    logarithms are all formed from ``t^2 / df`` so that neither tail loses precision. Up to 30 degrees
    of freedom (or for ``x <= 0.7``) a continued fraction; beyond, a series (small ``t``) or the BGRAT
    expansion, where the continued fraction would lose digits to the rounding of ``x``: within
    about 1e-13 of the exact value (scipy's own ``stdtr`` with one degree of freedom and ``|t| < 1e-6``
    is off by more, 3e-9 at ``t = 1e-8``).
    """
    t = np.abs(np.asarray(t, dtype=np.float64))
    df = np.asarray(df, dtype=np.float64)
    out = np.full(len(t), np.nan)
    ok = ~np.isnan(t) & (df > 0)
    if not ok.any():
        return out
    t, df = t[ok], df[ok]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = (t * t) / df
        x = 1.0 / (1.0 + ratio)
        one_minus_x = np.where(np.isinf(ratio), 1.0, ratio / (1.0 + ratio))
        log_x = -np.log1p(ratio)
        log_1mx = np.where(np.isinf(ratio), 0.0, np.log(ratio) - np.log1p(ratio))
    a = df / 2.0
    result = np.empty(len(t))
    small = (a <= 15.0) | (one_minus_x >= 0.3)  # BGRAT is for x near 1 (TOMS 708 uses it below 0.3)
    if small.any():
        result[small] = _regularized_beta(
            a[small], np.full(int(small.sum()), 0.5), x[small], one_minus_x[small], log_x[small], log_1mx[small]
        )
    series = ~small & (a * one_minus_x <= 1.0)
    if series.any():
        result[series] = 1.0 - _beta_small_ay_half(a[series], one_minus_x[series], log_x[series])
    tail = ~small & ~series
    if tail.any():
        result[tail] = _beta_large_a_half(a[tail], log_x[tail])
    out[ok] = result
    return out


_LINREGRESS_ATTRS = {"slope", "intercept", "rvalue", "pvalue", "stderr", "intercept_stderr"}


#: Below this distance of |r| from 1, or this spread of the values relative to their mean (constant
#: series included), the moments are recomputed series by series with scipy's own numpy calls: there
#: ``1 - r^2`` (stderr, p-value) or the whole regression is a function of rounding.
_NEARLY_EXACT = 1e-6


def _linregress(s: Segments, attrs: set[str]) -> dict[str, np.ndarray]:
    """``scipy.stats.linregress(range(n), x)`` of every series, in closed form.

    scipy's formulas: ``np.cov(x, y, bias=1)`` moments (the ``x`` moment exact: ``(n^2 - 1) / 12``),
    ``r`` clipped to [-1, 1] (NaN/0 for zero moments), the p-value from Student's t with ``n - 2``
    degrees of freedom, the special case ``n == 2``; NaN throughout for one value or any NaN.

    For a (nearly) constant or exactly linear series, ``r`` is undefined or 1 up to rounding and the
    stderr and p-value (or all of the fit) are functions of that rounding; those few series get
    their moments from ``np.mean`` and ``np.cov`` as scipy computes them, so the rounding is scipy's.
    """
    n = s.lengths
    size = n.astype(np.float64)
    y_mean = s.mean()
    x_mean = (size - 1.0) / 2.0
    y_centered = s.values - s.broadcast(y_mean)
    x_centered = s.position - s.broadcast(x_mean)
    exact = n < 2**20
    x_squares = np.where(exact, (np.where(exact, n, 0) * (np.where(exact, n, 0) ** 2 - 1)) / 12.0,
                         size * (size * size - 1.0) / 12.0)  # fmt: skip
    inverse = 1.0 / size
    ssxm = x_squares * inverse
    ssxym = s.sum(x_centered * y_centered) * inverse
    ssym = s.sum(y_centered * y_centered) * inverse
    undefined = (n < 2) | _has_nan(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ssxym / np.sqrt(ssxm * ssym)
        constant = np.maximum.reduceat(s.values, s.starts) == np.minimum.reduceat(s.values, s.starts)
        flat = ssym <= (_NEARLY_EXACT * y_mean) ** 2
        for row in np.flatnonzero(~undefined & (constant | flat | ~(np.abs(r) < 1 - _NEARLY_EXACT))):
            y = s.series(int(row))
            y_mean[row] = np.mean(y)
            ssxm[row], ssxym[row], _, ssym[row] = np.cov(np.arange(len(y)), y, bias=True).flat
        degenerate = (ssxm == 0.0) | (ssym == 0.0)
        r = np.clip(ssxym / np.sqrt(ssxm * ssym), -1.0, 1.0)
        r = np.where(degenerate, np.where(ssxym == 0, np.nan, 0.0), r)
        slope = ssxym / ssxm
        out = {"slope": slope, "intercept": y_mean - slope * x_mean, "rvalue": r}
        df = size - 2.0
        two = n == 2
        if {"stderr", "intercept_stderr"} & attrs:
            stderr = np.where(two, 0.0, np.sqrt((1 - r**2) * ssym / ssxm / df))
            out["stderr"] = stderr
            out["intercept_stderr"] = np.where(two, 0.0, stderr * np.sqrt(ssxm + x_mean**2))
        if "pvalue" in attrs:
            t = r * np.sqrt(df / ((1.0 - r + _TINY) * (1.0 + r + _TINY)))
            pvalue = np.full(len(s), np.nan)
            many = n > 2
            pvalue[many] = _student_t_two_sided(t[many], df[many])
            if two.any():
                first = s.values[s.starts[two]]
                pvalue[two] = np.where(first == s.values[s.starts[two] + 1], 1.0, 0.0)
            out["pvalue"] = pvalue
    for values in out.values():
        values[undefined] = np.nan
    return out


@combiner("linear_trend", params={"attr": Param(str, choices=tuple(sorted(_LINREGRESS_ATTRS)))})
def linear_trend(s: Segments, params: Sequence[Params]) -> Result:
    """Attributes of ``scipy.stats.linregress(range(n), x)`` (pvalue, rvalue, intercept, slope, stderr)."""
    suffixes = [f'attr_"{p["attr"]}"' for p in params]
    if not params or _invalid(params, lambda p: p["attr"] in _LINREGRESS_ATTRS):
        return _all_nan(s, suffixes)
    fitted = _linregress(s, {p["attr"] for p in params})
    return [(suffix, fitted[p["attr"]]) for suffix, p in zip(suffixes, params, strict=True)]


_CHUNK_AGGREGATES = {"max", "min", "mean", "var", "std", "sum", "prod"}


def _chunk_aggregates(s: Segments, rows: np.ndarray, chunk_len: int, functions: set[str]) -> tuple:
    """Aggregates of consecutive chunks of ``chunk_len`` values (the last one shorter) of some series.

    The chunks are gathered into 2-D arrays (full chunks together, last chunks grouped by length) and
    reduced row-wise, which gives numpy's numbers for each chunk (``x[a:b].mean()`` in tsfresh).

    Returns
    -------
    tuple
        ``(starts, counts, {function: flat aggregates})``: where each series' aggregates begin in the
        flat arrays, how many there are (``ceil(n / chunk_len)``), and the aggregates in order.
    """
    n = s.lengths[rows]
    full, rest = np.divmod(n, chunk_len)
    counts = full + (rest > 0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    total = int(counts.sum())
    out = {name: np.empty(total) for name in functions}
    series_start = s.starts[rows]
    # full chunks of every series, one 2-D array
    chunk_series = np.repeat(np.arange(len(rows)), full)
    chunk_index = np.arange(int(full.sum())) - np.repeat(np.cumsum(full) - full, full)
    if len(chunk_series):
        block = s.values[(series_start[chunk_series] + chunk_len * chunk_index)[:, None] + np.arange(chunk_len)]
        target = starts[chunk_series] + chunk_index
        for name in functions:
            out[name][target] = getattr(block, name)(axis=1)
    # the shorter last chunks, grouped by length
    for length in np.unique(rest[rest > 0]):
        which = np.flatnonzero(rest == length)
        block = s.values[(series_start[which] + chunk_len * full[which])[:, None] + np.arange(length)]
        for name in functions:
            out[name][starts[which] + full[which]] = getattr(block, name)(axis=1)
    return starts, counts, out


@combiner(
    "agg_linear_trend",
    params={
        "attr": Param(str, choices=tuple(sorted(_LINREGRESS_ATTRS))),
        "chunk_len": Param(int, low=1),
        "f_agg": Param(str, choices=tuple(sorted(_CHUNK_AGGREGATES))),
    },
)
def agg_linear_trend(s: Segments, params: Sequence[Params]) -> Result:
    """``linregress`` of chunk aggregates (``f_agg`` over chunks of ``chunk_len``) against their index.

    NaN when ``chunk_len >= n`` (as tsfresh). One gather per chunk length, one regression per
    (chunk length, aggregate) over all series.
    """
    suffixes = [f'attr_"{p["attr"]}"__chunk_len_{p["chunk_len"]}__f_agg_"{p["f_agg"]}"' for p in params]
    if not params or _invalid(
        params,
        lambda p: p["attr"] in _LINREGRESS_ATTRS and p["f_agg"] in _CHUNK_AGGREGATES and int(p["chunk_len"]) > 0,
    ):
        return _all_nan(s, suffixes)
    fitted: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for chunk_len in sorted({int(p["chunk_len"]) for p in params}):
        wanted = [p for p in params if int(p["chunk_len"]) == chunk_len]
        functions = {p["f_agg"] for p in wanted}
        rows = np.flatnonzero(s.lengths > chunk_len)
        starts, counts, aggregates = _chunk_aggregates(s, rows, chunk_len, functions)
        for name in functions:
            attrs = {p["attr"] for p in wanted if p["f_agg"] == name}
            result = {attr: np.full(len(s), np.nan) for attr in attrs}
            if len(rows):
                inner = _linregress(Segments(aggregates[name], starts, counts), attrs)
                for attr in attrs:
                    result[attr][rows] = inner[attr]
            fitted[chunk_len, name] = result
    return [
        (suffix, fitted[int(p["chunk_len"]), p["f_agg"]][p["attr"]]) for suffix, p in zip(suffixes, params, strict=True)
    ]


def _energy_ratio_valid(param: Params) -> bool:
    parts, focus = int(param["num_segments"]), int(param["segment_focus"])
    return parts > 0 and -parts <= focus < parts  # tsfresh asserts, or the chunk list raises IndexError


@combiner("energy_ratio_by_chunks", params={"num_segments": Param(int, low=1), "segment_focus": Param(int, low=0)})
def energy_ratio_by_chunks(s: Segments, params: Sequence[Params]) -> Result:
    """Sum of squares of chunk ``segment_focus`` of ``np.array_split(x, num_segments)`` over the total.

    ``np.array_split``: the first ``n % num_segments`` chunks hold one value more; chunks may be empty
    (ratio 0). NaN when the total is 0.
    """
    suffixes = [f"num_segments_{p['num_segments']}__segment_focus_{p['segment_focus']}" for p in params]
    if not params or _invalid(params, _energy_ratio_valid):
        return _all_nan(s, suffixes)
    squares = s.values * s.values
    total = s.sum(squares)
    ratios = {}
    for parts in sorted({int(p["num_segments"]) for p in params}):
        size, extra = np.divmod(s.lengths, parts)
        j = np.arange(parts + 1)
        bounds = s.starts[:, None] + j * size[:, None] + np.minimum(j, extra[:, None])
        sums = _range_sums(squares, bounds[:, :-1].ravel(), bounds[:, 1:].ravel()).reshape(len(s), parts)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios[parts] = np.where((total == 0)[:, None], np.nan, sums / total[:, None])
    return [
        (suffix, ratios[int(p["num_segments"])][:, int(p["segment_focus"])])
        for suffix, p in zip(suffixes, params, strict=True)
    ]
