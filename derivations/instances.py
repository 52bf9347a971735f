r"""Random concrete instances: the proof engine's second, independent line of defence.

A general chain -- densities as undefined functions, expectations as operators, sums to a symbolic
:math:`N` -- is proved by rules (:mod:`derivations.engine`, :mod:`derivations.operator_rules`).  A rule applied
outside its side conditions certifies a false link; so every link is *also* evaluated numerically on random
concrete models, as a careful lecturer checks a derivation on paper with numbers:

* every undefined **density** (:func:`derivations.expectation.density`) becomes a random normalized density of
  its variables -- a two-component Gaussian mixture whose means move with the conditioning arguments (a
  Gaussian conditional times a Gaussian mixture for a density of two variables);
* every other undefined **function** becomes a random smooth function with the declared sign (``positive``:
  the exponential of one); a function declared **concave** (:func:`derivations.witnesses.declare_concave`)
  becomes a random concave function, its declared supergradient the exact derivative;
* every free **symbol** becomes a random number with its assumptions; an **integer** size (:math:`N, K, D`) a
  small random integer (1 to 3), so a sum to :math:`N` becomes a finite sum;
* a hypothesis :math:`\sum_k w_k = c` of the identity's rules is honoured by rescaling the drawn weights;
* expectations and integrals are computed by adaptive Gauss--Legendre quadrature (infinite intervals mapped
  to finite ones), derivatives by five-point central differences, limits by polynomial (Neville)
  extrapolation of the values at :math:`h = 0.2 \cdot 2^{-k}`; all in pure Python (``math``/``cmath``), so the
  engine stays importable without NumPy.

A link whose two sides differ on an instance (beyond a tolerance that covers the quadrature error; every
disagreement is re-evaluated with a finer quadrature before it is reported) is refuted, and the message shows
the instance.  An instance cannot *prove* anything: it can only refute, and it is never the reason a link is
accepted.  Constructs it cannot evaluate (``sympy.stats`` objects, vectors of more than two coordinates, sums of
more than 200 terms) raise :class:`Unevaluable`; the link then rests on the rules alone and the proof says so.
"""
from __future__ import annotations

import cmath
import math
import random
from functools import lru_cache
from typing import Optional

import sympy as sp
from sympy.core.function import AppliedUndef

from derivations.expectation import DiagNormalPDF, Expect, NormalPDF, density_vars
from derivations.witnesses import CONCAVE, expand_witnesses

__all__ = ["Unevaluable", "World", "evaluate", "refute_link", "RTOL", "STATS"]

#: counts of link verdicts since import ("held", "unevaluable", "refuted"), with the reasons of the unevaluable
STATS: dict = {"held": 0, "unevaluable": 0, "refuted": 0, "reasons": {}}

#: relative tolerance of a numeric comparison (quadrature is accurate to about 1e-9 on these models)
RTOL = 1e-6
#: looser tolerance when the expression holds a numerical limit or a derivative of an integral
RTOL_LOOSE = 2e-3


class Unevaluable(Exception):
    """The expression holds a construct the instance evaluator does not evaluate (the message says which)."""


# ---------------------------------------------------------------------------------------------------------
# Quadrature (pure Python): adaptive Gauss-Legendre on a finite interval of t, infinite ones mapped
# ---------------------------------------------------------------------------------------------------------

def _gauss_legendre(n: int) -> tuple:
    xs, ws = [], []
    for i in range(1, n + 1):
        x = math.cos(math.pi * (i - 0.25) / (n + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, x
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = n * (x * p1 - p0) / (x * x - 1)
            dx = p1 / dp
            x -= dx
            if abs(dx) < 1e-16:
                break
        xs.append(x)
        ws.append(2.0 / ((1 - x * x) * dp * dp))
    return xs, ws


_GL = _gauss_legendre(16)
_GL32, _GL64 = _gauss_legendre(32), _gauss_legendre(64)


def _gl(f, a: float, b: float):
    h, c = 0.5 * (b - a), 0.5 * (b + a)
    return h * sum(w * f(c + h * x) for x, w in zip(*_GL))


class _Budget:
    def __init__(self, evals: int):
        self.left = evals


def _adaptive(f, a, b, whole, tol, depth, budget):
    m = 0.5 * (a + b)
    left, right = _gl(f, a, m), _gl(f, m, b)
    budget.left -= 32
    if abs(left + right - whole) <= tol or depth <= 0 or budget.left <= 0:
        if abs(left + right - whole) > 100 * tol and (depth <= 0 or budget.left <= 0):
            raise Unevaluable("the quadrature did not converge")
        return left + right
    return (_adaptive(f, a, m, left, tol / 2, depth - 1, budget)
            + _adaptive(f, m, b, right, tol / 2, depth - 1, budget))


_TAIL = 30.0
#: beyond this distance from 0 an integrand that cannot be evaluated (a density underflowing to 0 inside a
#: log) counts as 0: the random densities have no mass there
_FAR = 12.0


def _quad(g, lo: float, hi: float, precise: bool = False):
    """``∫_lo^hi g(z) dz`` (limits may be ±inf); complex values allowed."""
    if lo == hi:
        return 0.0
    if lo > hi:
        return -_quad(g, hi, lo, precise)
    # The random densities are centred within +-3 with scales below 2: beyond +-TAIL their mass is below
    # e^-200, so an infinite interval is cut there.
    ends = []
    if math.isinf(lo):
        lo = min(-_TAIL, hi - _TAIL) if not math.isinf(hi) else -_TAIL
        ends.append(lo)
    if math.isinf(hi):
        hi = max(_TAIL, lo + _TAIL)
        ends.append(hi)
    for end in ends:  # an integrand that has not decayed at the cut: the integral does not converge here
        try:
            far = abs(g(end))
        except Unevaluable:
            far = 0.0
        if not far < 1e-12:
            raise Unevaluable("an integral over an infinite interval whose integrand does not decay")
    if math.isinf(lo) and math.isinf(hi):
        def f(t):
            u = 1 - t * t
            return g(t / u) * (1 + t * t) / (u * u)
        a, b = -1.0, 1.0
    elif math.isinf(hi):
        def f(t):
            return g(lo + t / (1 - t)) / ((1 - t) ** 2)
        a, b = 0.0, 1.0
    elif math.isinf(lo):
        def f(t):
            return g(hi - t / (1 - t)) / ((1 - t) ** 2)
        a, b = 0.0, 1.0
    else:
        def f(t):
            try:
                return g(t)
            except Unevaluable:
                if abs(t) > _FAR:
                    return 0.0
                raise
        a, b = lo, hi
    budget = _Budget(40000 if precise else 8000)
    # start from 6 panels so that a narrow peak is seen by at least one of them
    panels = 12 if precise else 6
    edges = [a + (b - a) * k / panels for k in range(panels + 1)]
    first = [_gl(f, p, q) for p, q in zip(edges, edges[1:])]
    scale = abs(sum(first)) + 1e-3 * sum(abs(v) for v in first)
    tol = (1e-12 if precise else 1e-9) * (1 + scale) / panels
    return sum(_adaptive(f, p, q, v, tol, 14 if precise else 10, budget) for (p, q), v in
               zip(zip(edges, edges[1:]), first))


# ---------------------------------------------------------------------------------------------------------
# Random worlds
# ---------------------------------------------------------------------------------------------------------

def _sigmoid(t):
    return 1 / (1 + math.exp(-t)) if t > -700 else 0.0


def _softplus(t):
    return t + math.log1p(math.exp(-t)) if t > 0 else math.log1p(math.exp(t))


def _real(v) -> float:
    if isinstance(v, complex):
        if abs(v.imag) > 1e-12 * (1 + abs(v.real)):
            raise Unevaluable("a density or function argument is complex")
        return v.real
    return float(v)


class World:
    """One random concrete model: values of symbols, indexed symbols and functions, drawn lazily.

    ``constraints``: ``{label of an IndexedBase: (index symbol, lo, hi, total)}`` from hypotheses
    :math:`\\sum_{k=lo}^{hi} w_k = c`.
    """

    def __init__(self, seed: int, constraints: Optional[dict] = None, precise: bool = False):
        self.rng = random.Random(seed)
        self.seed = seed
        self.constraints = constraints or {}
        self.precise = precise
        self.syms: dict = {}
        self.idx: dict = {}
        self.funcs: dict = {}
        self.memo: dict = {}

    # symbols ---------------------------------------------------------------------------------------
    def draw(self, obj) -> float:
        r = self.rng
        if obj.is_integer:
            if obj.is_positive:
                return r.choice([1, 2, 3])
            if obj.is_nonnegative:
                return r.choice([0, 1, 2, 3])
            return r.choice([-2, -1, 0, 1, 2, 3])
        if obj.is_positive:
            return r.uniform(0.3, 2.0)
        if obj.is_nonnegative:
            return r.uniform(0.0, 2.0)
        if obj.is_negative:
            return -r.uniform(0.3, 2.0)
        return r.uniform(-1.5, 1.5)

    def symbol(self, s: sp.Symbol) -> float:
        if s not in self.syms:
            self.syms[s] = self.draw(s)
        return self.syms[s]

    def indexed(self, e: sp.Indexed, vals: tuple) -> float:
        key = (e.base.label, vals)
        if key not in self.idx:
            con = self.constraints.get(e.base.label)
            if con is not None and len(vals) == 1:
                k, lo, hi, total = con
                lo_v, hi_v = _int_of(_compile(sp.sympify(lo))(self, {})), _int_of(_compile(sp.sympify(hi))(self, {}))
                total = _compile(sp.sympify(total))(self, {})
                ws = [self.rng.uniform(0.2, 1.0) for _ in range(lo_v, hi_v + 1)]
                s = sum(ws)
                for j, w in zip(range(lo_v, hi_v + 1), ws):
                    self.idx[(e.base.label, (j,))] = _real(total) * w / s
                if key in self.idx:
                    return self.idx[key]
            self.idx[key] = self.draw(e)
        return self.idx[key]

    # functions -------------------------------------------------------------------------------------
    def function(self, f: type, args: tuple):
        name = f.__name__
        if name not in self.funcs:
            imp = getattr(f, "_imp_", None)  # an implemented function (sympy's implemented_function) is itself
            self.funcs[name] = (lambda *xs: imp(*xs)) if imp is not None else self._make(f, len(args))
        return self.funcs[name](*[_real(a) for a in args])

    def _make(self, f: type, nargs: int):
        r = self.rng
        name = f.__name__
        n_vars = density_vars(f)
        if n_vars is None and getattr(f, "is_density_first_arg", False):
            n_vars = 1
        if n_vars is not None:
            return self._density(n_vars, nargs)
        for phi, dphi in CONCAVE.items():
            if name in (phi.__name__, dphi.__name__):
                c, d, e, g = r.uniform(-1, 1), r.uniform(-1, 1), r.uniform(0.05, 0.5), r.uniform(0.1, 1.0)
                self.funcs[phi.__name__] = lambda t: c + d * t - e * t * t - g * _softplus(t)
                self.funcs[dphi.__name__] = lambda t: d - 2 * e * t - g * _sigmoid(t)
                return self.funcs[name]
        coef = [(r.uniform(-1, 1), r.uniform(0.5, 2.0), r.uniform(0, 6.3), r.uniform(-0.5, 0.5)) for _ in range(nargs)]
        c0 = r.uniform(-1, 1)

        def smooth(*xs):
            return c0 + sum(a * math.sin(w * x + p) + b * x for (a, w, p, b), x in zip(coef, xs))

        pos = bool(getattr(f, "is_positive", False)) or f.__name__ in ("exp",)
        nonneg = bool(getattr(f, "is_nonnegative", False))
        if pos:
            return lambda *xs: math.exp(smooth(*xs))
        if nonneg:
            return lambda *xs: smooth(*xs) ** 2
        return smooth

    def _density(self, n_vars: int, nargs: int):
        r = self.rng
        ncond = nargs - n_vars

        def mixture():
            w = r.uniform(0.25, 0.75)
            comps = [(r.uniform(-1.2, 1.2), [r.uniform(-0.8, 0.8) for _ in range(max(ncond, 0))], r.uniform(0.5, 1.3))
                     for _ in range(2)]

            def pdf(t, cond):
                out = 0.0
                for wt, (m0, bs, s) in zip((w, 1 - w), comps):
                    m = m0 + sum(b * math.tanh(c) for b, c in zip(bs, cond))
                    out += wt * math.exp(-0.5 * ((t - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
                return out
            return pdf

        if n_vars == 1:
            pdf = mixture()
            return lambda *xs: pdf(xs[0], xs[1:])
        first = mixture()
        alpha, beta, s2 = r.uniform(-1, 1), r.uniform(-0.5, 0.5), r.uniform(0.5, 1.2)

        def joint(*xs):
            a, b, cond = xs[0], xs[1], xs[n_vars:]
            out = first(a, cond) * math.exp(-0.5 * ((b - alpha * a - beta) / s2) ** 2) / (s2 * math.sqrt(2 * math.pi))
            for t in xs[2:n_vars]:  # further variables: independent standard normals
                out *= math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
            return out
        return joint

    def describe(self) -> str:
        parts = [f"{s}={v:.3g}" if isinstance(v, float) else f"{s}={v}"
                 for s, v in sorted(self.syms.items(), key=lambda kv: str(kv[0]))]
        parts += [f"{lab}[{','.join(str(i) for i in vals)}]={v:.3g}" for (lab, vals), v in sorted(
            self.idx.items(), key=lambda kv: str(kv[0]))][:8]
        fams = sorted(self.funcs)
        text = ", ".join(parts) if parts else "no free symbols"
        if fams:
            text += "; random densities/functions for " + ", ".join(fams)
        return f"random instance (seed {self.seed}): {text}"


# ---------------------------------------------------------------------------------------------------------
# The evaluator: SymPy expression -> closure (world, env) -> number
# ---------------------------------------------------------------------------------------------------------

_SPECIAL = (Expect, sp.Integral, sp.Sum, sp.Product, sp.Derivative, sp.Limit, sp.Subs, AppliedUndef, sp.Indexed,
            DiagNormalPDF)


def _log(x):
    if isinstance(x, complex) or x <= 0:
        if x == 0:
            raise Unevaluable("log of 0")
        return cmath.log(x)
    return math.log(x)


def _sqrt(x):
    if isinstance(x, complex) or x < 0:
        return cmath.sqrt(x)
    return math.sqrt(x)


def _exp(x):
    if isinstance(x, complex):
        return cmath.exp(x)
    if x > 700:
        raise Unevaluable("exp overflow")
    return math.exp(x)


def _heaviside(x, h0=0.5):
    x = _real(x)
    return 1.0 if x > 0 else (0.0 if x < 0 else h0)


_NS = {"log": _log, "sqrt": _sqrt, "exp": _exp, "Abs": abs, "Heaviside": _heaviside, "Max": max, "Min": min,
       "sign": lambda x: (x > 0) - (x < 0), "tanh": math.tanh, "sin": math.sin, "cos": math.cos,
       "atan": math.atan, "erf": math.erf, "gamma": math.gamma, "loggamma": math.lgamma, "re": lambda x: complex(x).real,
       "im": lambda x: complex(x).imag}


def outermost(e: sp.Basic, kinds: tuple) -> list:
    """The subexpressions of ``e`` of the given ``kinds`` not contained in another one, outermost first."""
    found = []

    def walk(t):
        if isinstance(t, kinds):
            found.append(t)
            return
        for a in t.args:
            walk(a)

    walk(e)
    return list(dict.fromkeys(found))


def _outer_special(e: sp.Basic) -> list:
    return outermost(e, _SPECIAL)


@lru_cache(maxsize=8192)
def _compile(e: sp.Basic):
    if isinstance(e, _SPECIAL):
        return _compile_special(e)
    if isinstance(e, (sp.Symbol, sp.Dummy)):
        return lambda w, env: env[e] if e in env else w.symbol(e)
    if e.is_Number or e in (sp.pi, sp.E):
        v = complex(e) if e.is_number and not e.is_real else float(e)
        return lambda w, env: v
    if isinstance(e, sp.Function) and not isinstance(e, AppliedUndef) and type(e).__name__ not in _NS \
            and not hasattr(sp.functions, type(e).__name__):
        raise Unevaluable(f"unknown function {type(e).__name__}")
    outer = _outer_special(e)
    dums = [sp.Dummy() for _ in outer]
    body = e.xreplace(dict(zip(outer, dums))) if outer else e
    syms = sorted(body.free_symbols - set(dums), key=sp.default_sort_key)
    try:
        lam = sp.lambdify(syms + dums, body, modules=[_NS, "math"])
    except Exception as exc:  # pragma: no cover - a SymPy printer gap
        raise Unevaluable(f"cannot compile {sp.sstr(body)[:60]}: {exc}")
    subs = [_compile(o) for o in outer]

    def fn(w, env):
        args = [env[s] if s in env else w.symbol(s) for s in syms] + [f(w, env) for f in subs]
        try:
            return lam(*args)
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise Unevaluable(f"{type(exc).__name__} while evaluating")
    return fn


def _bind_limit(lim: tuple, w, env):
    v = lim[0]
    if len(lim) == 1:
        return v, -math.inf, math.inf
    lo, hi = (_real(_compile(x)(w, env)) if x not in (-sp.oo, sp.oo) else (math.inf if x == sp.oo else -math.inf)
              for x in lim[1:])
    return v, lo, hi


def _int_of(x) -> int:
    x = _real(x)
    if abs(x - round(x)) > 1e-9:
        raise Unevaluable(f"a sum limit {x} is not an integer")
    return int(round(x))


def _memoized(e, fn):
    """An expensive node (integral, sum, limit, derivative) is evaluated once per world and per value of what
    it depends on: its free symbols and the coordinates of indexed variables bound around it."""
    fs = sorted(e.free_symbols, key=sp.default_sort_key)
    labels = {t.base.label for t in e.atoms(sp.Indexed)}

    def memo(w, env):
        key = (e, tuple(env.get(s) for s in fs),
               tuple(sorted((k, v) for k, v in env.items() if isinstance(k, tuple) and k[1] in labels)))
        try:
            return w.memo[key]
        except KeyError:
            v = w.memo[key] = fn(w, env)
            return v
        except TypeError:  # pragma: no cover - unhashable
            return fn(w, env)
    return memo


def _compile_special(e):
    fn = _compile_special_raw(e)
    if isinstance(e, (Expect, sp.Integral, sp.Sum, sp.Product, sp.Derivative, sp.Limit)):
        return _memoized(e, fn)
    return fn


def _compile_special_raw(e):  # noqa: C901 - one dispatch
    if isinstance(e, sp.Indexed):
        base, idxs = e.base.label, [_compile(i) for i in e.indices]

        def fn(w, env):
            vals = tuple(_int_of(f(w, env)) if e.indices[j].is_integer else _real(f(w, env))
                         for j, f in enumerate(idxs))
            key = ("idx", base, vals)
            return env[key] if key in env else w.indexed(e, vals)
        return fn
    if isinstance(e, AppliedUndef):
        args = [_compile(a) for a in e.args]
        return lambda w, env: w.function(e.func, tuple(f(w, env) for f in args))
    if isinstance(e, DiagNormalPDF):
        z, mu, v, D, d = e.args
        terms = _compile(NormalPDF(z[d], mu[d] if isinstance(mu, sp.IndexedBase) else mu,
                                   v[d] if isinstance(v, sp.IndexedBase) else v).explicit())
        Df = _compile(D)

        def fn(w, env):
            out = 1.0
            for k in range(1, _int_of(Df(w, env)) + 1):
                out *= terms(w, {**env, d: k})
            return out
        return fn
    if isinstance(e, Expect):
        var, dens = e.var, e.dens
        if isinstance(var, sp.IndexedBase) or (isinstance(dens, DiagNormalPDF) and dens.args[0] == var):
            return _vector_expect(e)
        body = _compile(dens * e.expr)
        return _integrator(body, var, None)
    if isinstance(e, sp.Integral):
        fn = _compile(e.function)
        for lim in e.limits:
            fn = _integrator(fn, lim[0], lim)
        return fn
    if isinstance(e, (sp.Sum, sp.Product)):
        fn = _compile(e.function)
        for lim in e.limits:
            fn = _summer(fn, lim, isinstance(e, sp.Product))
        return fn
    if isinstance(e, sp.Derivative):
        fn = _compile(e.expr)
        for v, n in e.variable_count:
            fn = _differentiator(fn, v, int(n))
        return fn
    if isinstance(e, sp.Limit):
        return _limiter(_compile(e.args[0]), e.args[1], e.args[2], str(e.args[3]))
    if isinstance(e, sp.Subs):
        fn = _compile(e.expr)
        pts = [_compile(p) for p in e.point]
        vs = e.variables

        def sub(w, env):
            vals = [p(w, env) for p in pts]
            return fn(w, {**env, **{v: _real(x) for v, x in zip(vs, vals)}})
        return sub
    raise Unevaluable(type(e).__name__)  # pragma: no cover


def _key_of(var, w, env):
    if isinstance(var, sp.Indexed):
        vals = tuple(_int_of(_compile(i)(w, env)) for i in var.indices)
        return ("idx", var.base.label, vals)
    return var


def _integrator(body, var, lim):
    def fn(w, env):
        if lim is None:
            lo, hi = -math.inf, math.inf
        else:
            _, lo, hi = _bind_limit(lim, w, env)
        key = _key_of(var, w, env)
        return _quad(lambda t: body(w, {**env, key: t}), lo, hi, w.precise)
    return fn


def _vector_expect(e: Expect):
    dens = e.dens
    if not isinstance(dens, DiagNormalPDF):
        raise Unevaluable("an expectation over a vector under a density other than DiagNormalPDF")
    z, mu, v, D, d = dens.args
    body = _compile(e.expr)
    Df = _compile(D)
    pdf = _compile(NormalPDF(z[d], mu[d] if isinstance(mu, sp.IndexedBase) else mu,
                             v[d] if isinstance(v, sp.IndexedBase) else v).explicit())

    muf = _compile(mu[d] if isinstance(mu, sp.IndexedBase) else mu)
    vf = _compile(v[d] if isinstance(v, sp.IndexedBase) else v)

    def fn(w, env):
        n = _int_of(Df(w, env))
        if n > 2:
            raise Unevaluable("an expectation over more than two coordinates")
        nodes = _GL64 if w.precise else _GL32

        def rec(k, env2):
            if k > n:
                return body(w, env2)
            key = ("idx", z.label, (k,))
            m, sd = _real(muf(w, {**env2, d: k})), math.sqrt(_real(vf(w, {**env2, d: k})))
            lo, hi = m - 9 * sd, m + 9 * sd  # a Gaussian coordinate: fixed Gauss-Legendre over +-9 sd
            h, c = 0.5 * (hi - lo), 0.5 * (hi + lo)
            return h * sum(wt * pdf(w, {**env2, key: c + h * x, d: k}) * rec(k + 1, {**env2, key: c + h * x})
                           for x, wt in zip(*nodes))
        return rec(1, env)
    return fn


def _summer(body, lim, product: bool):
    k, lo, hi = lim
    lof, hif = _compile(lo), _compile(hi)

    def fn(w, env):
        a, b = _int_of(lof(w, env)), _int_of(hif(w, env))
        if b - a > 200:
            raise Unevaluable("a sum of more than 200 terms")
        out = 1.0 if product else 0.0
        for j in range(a, b + 1):
            v = body(w, {**env, k: j})
            out = out * v if product else out + v
        return out
    return fn


def _differentiator(body, v, n: int):
    if not isinstance(v, sp.Symbol) or n > 2:
        raise Unevaluable("a derivative in something other than a symbol, or of order > 2")

    def fn(w, env):
        x0 = _real(env[v] if v in env else w.symbol(v))
        h = 1e-3 * (1 + abs(x0))

        def g(t):
            return body(w, {**env, v: t})
        if n == 1:
            return (-g(x0 + 2 * h) + 8 * g(x0 + h) - 8 * g(x0 - h) + g(x0 - 2 * h)) / (12 * h)
        return (-g(x0 + 2 * h) + 16 * g(x0 + h) - 30 * g(x0) + 16 * g(x0 - h) - g(x0 - 2 * h)) / (12 * h * h)
    return fn


def _neville(hs, ys):
    n = len(hs)
    p = list(ys)
    for j in range(1, n):
        for i in range(n - j):
            p[i] = (hs[i + j] * p[i] - hs[i] * p[i + 1]) / (hs[i + j] - hs[i])  # evaluated at h = 0
    return p[0]


def _limiter(body, v, point, direction: str):
    if point in (sp.oo, -sp.oo):
        sgn = 1 if point == sp.oo else -1  # v = +-1/h: 5, 10, 20, 40, 80

        def at(w, env, h):
            return body(w, {**env, v: sgn / h})
    else:
        pf = _compile(point)
        s = -1 if direction == "-" else 1

        def at(w, env, h):
            return body(w, {**env, v: _real(pf(w, env)) + s * h})

    def fn(w, env):
        hs = [0.2 * 2.0 ** (-k) for k in range(5)]
        ys = [at(w, env, h) for h in hs]
        p4, p3 = _neville(hs[1:], ys[1:]), _neville(hs[1:4], ys[1:4])
        scale = 1 + max(abs(y) for y in ys)
        if abs(p4 - p3) > 1e-3 * scale:
            raise Unevaluable("the limit does not settle numerically")
        return p4
    return fn


# ---------------------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------------------

def _prepare(e: sp.Basic) -> sp.Basic:
    e = expand_witnesses(e)
    if e.has(NormalPDF):
        e = e.replace(lambda t: isinstance(t, NormalPDF), lambda t: t.explicit())
    return e


def _has_stats(e: sp.Basic) -> bool:
    return any(type(a).__name__ in ("Expectation", "RandomSymbol", "Probability", "Variance")
               for a in sp.preorder_traversal(e))


def evaluate(expr: sp.Basic, world: World) -> complex:
    """The value of ``expr`` in ``world`` (a float, or a complex number).  Raises :class:`Unevaluable`."""
    if _has_stats(expr):
        raise Unevaluable("sympy.stats objects")
    try:
        fn = _compile(_prepare(expr))
    except Unevaluable:
        raise
    except Exception as exc:  # a SymPy object outside the evaluator
        raise Unevaluable(f"{type(exc).__name__}: {exc}")
    try:
        return fn(world, {})
    except Unevaluable:
        raise
    except (ZeroDivisionError, OverflowError, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise Unevaluable(f"{type(exc).__name__} while evaluating")


def constraints_of(rules: dict) -> dict:
    r"""Hypotheses :math:`\sum_{k=lo}^{hi} w_k = c` among ``rules`` (lhs -> rhs), by IndexedBase label."""
    out = {}
    for lhs, rhs in (rules or {}).items():
        if isinstance(lhs, sp.Sum) and len(lhs.limits) == 1 and isinstance(lhs.function, sp.Indexed) \
                and lhs.function.indices == (lhs.limits[0][0],):
            k, lo, hi = lhs.limits[0]
            out[lhs.function.base.label] = (k, lo, hi, rhs)
    return out


def _close(va, vb, rel: str, rtol: float) -> bool:
    if rel == "=":
        return abs(va - vb) <= 1e-9 + rtol * max(abs(va), abs(vb))
    if isinstance(va, complex) or isinstance(vb, complex):
        ia = va.imag if isinstance(va, complex) else 0.0
        ib = vb.imag if isinstance(vb, complex) else 0.0
        if abs(ia) > 1e-9 * (1 + abs(va)) or abs(ib) > 1e-9 * (1 + abs(vb)):
            return False  # an inequality between complex numbers means nothing
        va, vb = complex(va).real, complex(vb).real
    d = va - vb if rel == ">=" else vb - va
    return d >= -(1e-9 + rtol * max(abs(va), abs(vb)))


def refute_link(a: sp.Basic, b: sp.Basic, rel: str, trials: int = 3, seed: int = 0,
                constraints: Optional[dict] = None) -> tuple:
    """Evaluate ``a rel b`` on ``trials`` random instances.

    ``a`` and ``b`` are the link's sides with the identity's rules already substituted.  Returns
    ``("refuted", message)`` when an instance violates the link (confirmed by a finer quadrature),
    ``("held", n)`` with the number of instances evaluated, or ``("unevaluable", reason)``.
    """
    loose = any(x.has(sp.Limit) or any(isinstance(t, sp.Derivative) and t.has(sp.Integral, Expect)
                                       for t in sp.preorder_traversal(x)) for x in (a, b))
    rtol = RTOL_LOOSE if loose else RTOL
    held, reason = 0, ""
    for t in range(trials):
        world_seed = 1000 * seed + 7919 * t + 17
        for precise in (False, True):  # a disagreement is confirmed with a finer quadrature
            fine = World(world_seed, constraints, precise=precise)
            try:
                fa, fb = evaluate(a, fine), evaluate(b, fine)
            except Unevaluable as exc:
                reason = str(exc)
                break
            if _close(fa, fb, rel, rtol):
                held += 1
                break
        else:
            STATS["refuted"] += 1
            return "refuted", (f"on a {fine.describe()}, the left side is {_fmt(fa)} and the right side {_fmt(fb)}"
                               f" (relation '{rel}')")
    if held == 0:
        STATS["unevaluable"] += 1
        why = reason or "no instance could be evaluated"
        STATS["reasons"][why] = STATS["reasons"].get(why, 0) + 1
        return "unevaluable", why
    STATS["held"] += 1
    return "held", held


def _fmt(v) -> str:
    if isinstance(v, complex) and abs(v.imag) > 1e-12:
        return f"{v.real:.6g}{v.imag:+.6g}i"
    return f"{complex(v).real:.6g}"
