r"""Random concrete instances: the proof engine's second line of defence, and the student checker's models.

This is the package's one random-instance module.  Two kinds of random model live here, for two readers:
:class:`World` (below) refutes the links of the identities' chains; :class:`Instance` (the last section) makes
the objects of a student's derivation concrete for :mod:`derivations.check`, on a small discrete or
linear-Gaussian model it can describe in words.  Both raise :class:`Unevaluable` for what they cannot evaluate.

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

from derivations.expectation import DENSITY_VARS, DiagNormalPDF, Expect, NormalPDF, density_vars
from derivations.witnesses import CONCAVE, expand_witnesses

__all__ = ["Unevaluable", "World", "evaluate", "refute_link", "RTOL", "STATS",
           "Instance", "X_VALUES", "Z_VALUES", "needs_continuous"]

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
                    out += wt * _npdf(t, m, s * s)
                return out
            return pdf

        if n_vars == 1:
            pdf = mixture()
            return lambda *xs: pdf(xs[0], xs[1:])
        first = mixture()
        alpha, beta, s2 = r.uniform(-1, 1), r.uniform(-0.5, 0.5), r.uniform(0.5, 1.2)

        def joint(*xs):
            a, b, cond = xs[0], xs[1], xs[n_vars:]
            out = first(a, cond) * _npdf(b, alpha * a + beta, s2 * s2)
            for t in xs[2:n_vars]:  # further variables: independent standard normals
                out *= _npdf(t, 0.0, 1.0)
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


# ---------------------------------------------------------------------------------------------------------
# The student checker's instances (derivations.check): one random model per instance, discrete or continuous
# ---------------------------------------------------------------------------------------------------------
#
# A lecturer checks a general step on paper by trying it on a model.  :class:`Instance` does the same for the
# objects of :mod:`derivations.latex_reader` (and of :mod:`derivations.expectation`):
#
# * **discrete** (``kind="discrete"``): :math:`x \in \{0, 1, 2\}`, :math:`z \in \{-1.3, -0.4, 0.6, 1.7\}` (every
#   other variable takes the values of :math:`z`); the model :math:`p(x, z)` is a random table (softmax of random
#   logits, moved by the parameters :math:`\theta`), and :math:`p(x)`, :math:`p(z)`, :math:`p(x \mid z)`,
#   :math:`p(z \mid x)` are its marginals and conditionals; every other density (``q(z | x, phi)``, ``r(z)``) is
#   a random table normalized over its variable, whose logits depend on what it is conditioned on.  Expectations,
#   integrals and sums over a variable are exact finite sums.
# * **continuous** (``kind="continuous"``): :math:`p(z) = \mathcal{N}(a, s_0^2)`,
#   :math:`p(x \mid z) = \mathcal{N}(w z + b, s^2)`, with the evidence and the posterior in closed form; every
#   other density a Gaussian whose mean and log-scale depend on what it is conditioned on; expectations and
#   integrals by adaptive quadrature (``mpmath.quad``), with their limits.
#
# Undefined functions (``f``, ``g``) are random smooth functions; free symbols random numbers with their
# assumptions (positive symbols in [0.3, 2], sizes N, K, D in {1, 2, 3}); derivatives central differences.
# :func:`Instance.value` returns a float, or raises :class:`Unevaluable` for what it cannot evaluate
# (``det``, ``tr``, a derivative in a discrete variable...).  Pure Python (``math``, ``random``, ``mpmath``).

X_VALUES = (0.0, 1.0, 2.0)
Z_VALUES = (-1.3, -0.4, 0.6, 1.7)
_FAMILY = {"p_joint", "p_post", "p_lik", "p_prior", "p_evid"}


def _base(v) -> str:
    if isinstance(v, sp.Indexed):
        return str(v.base.label)
    if isinstance(v, (sp.Symbol, sp.Dummy)):
        return v.name.split("_")[0]
    return ""


def needs_continuous(*exprs) -> bool:
    """Does an expression need the continuous model (Gaussians, finite integration limits, derivatives in a
    variable that is integrated over)?"""
    for e in exprs:
        if e.has(NormalPDF, DiagNormalPDF):
            return True
        for it in e.atoms(sp.Integral):
            for lim in it.limits:
                if len(lim) == 3 and (lim[1] != -sp.oo or lim[2] != sp.oo):
                    return True
        bound = set()
        for node in sp.preorder_traversal(e):
            if isinstance(node, Expect):
                bound.add(node.var)
            elif isinstance(node, sp.Integral):
                bound |= {lim[0] for lim in node.limits}
        for node in sp.preorder_traversal(e):  # a change of variables (f(2u), q(mu + sigma eps)): sums over a
            if isinstance(node, (Expect, sp.Integral)):  # few points would not be a faithful model of it
                var = node.var if isinstance(node, Expect) else node.limits[0][0]
                body = node.expr * node.dens if isinstance(node, Expect) else node.function
                for t in sp.preorder_traversal(body):
                    if isinstance(t, (AppliedUndef, NormalPDF)) and any(a.has(var) and a != var for a in t.args):
                        return True
        for d in e.atoms(sp.Derivative):
            if any(v in bound or _base(v) in ("x", "z") for v, _ in d.variable_count):
                return True
        if e.has(sp.Subs):
            return True
    return False


class Instance:
    """One random concrete model.  ``value(expr)`` evaluates an expression of the reader's objects.

    Args:
        seed: the instance's seed (instances are reproducible).
        kind: ``"discrete"`` or ``"continuous"``.
    """

    def __init__(self, seed: int, kind: str = "discrete"):
        self.seed, self.kind = seed, kind
        self.rng = random.Random(seed)
        self.values: dict = {}  # free symbol -> float
        self._tables: dict = {}
        self._funcs: dict = {}
        self._indexed: dict = {}
        self.used: dict = {}  # density name -> a short description (for the message)
        self._seen: dict = {}  # density name -> the conditioning values it was evaluated at
        r = self.rng
        # the model p(x, z): logits of the table (discrete) or the linear-Gaussian parameters (continuous)
        self._joint_logits = [[r.gauss(0, 1) for _ in Z_VALUES] for _ in X_VALUES]
        self._joint_moves = [[[r.gauss(0, 1) for _ in Z_VALUES] for _ in X_VALUES] for _ in range(4)]
        self._lg = dict(a=r.uniform(-1, 1), s0=r.uniform(0.6, 1.5), w=r.uniform(0.5, 2.0) * r.choice((-1, 1)),
                        b=r.uniform(-1, 1), s=r.uniform(0.5, 1.5), moves=[r.uniform(-1, 1) for _ in range(4)])

    # -- free symbols ---------------------------------------------------------------------------------------
    def assign(self, exprs, density_args: set):
        """Draw a value for every free symbol of ``exprs`` (a variable of a density from its domain)."""
        syms = set()
        for e in exprs:
            syms |= e.free_symbols
        for s in sorted(syms, key=lambda t: t.name):
            if s in self.values:
                continue
            self.values[s] = self._draw(s, s in density_args)
        return self.values

    def _draw(self, s, is_density_arg: bool) -> float:
        r = self.rng
        if self.kind == "discrete" and (is_density_arg or _base(s) in ("x", "z")):
            return r.choice(X_VALUES if _base(s) == "x" else Z_VALUES)
        if s.is_integer:
            return float(r.randint(1, 3))
        if s.is_positive:
            return round(r.uniform(0.3, 2.0), 2)
        if s.is_nonnegative:
            return round(r.uniform(0.0, 2.0), 2)
        return round(r.uniform(-1.5, 1.5), 2)

    def domain(self, var):
        if self.kind != "discrete":
            raise Unevaluable("no finite domain in the continuous model")
        return X_VALUES if _base(var) == "x" else Z_VALUES

    # -- densities ------------------------------------------------------------------------------------------
    def _joint_table(self, params):
        logits = [[self._joint_logits[i][j] + sum(p * self._joint_moves[k % 4][i][j] for k, p in enumerate(params))
                   for j in range(len(Z_VALUES))] for i in range(len(X_VALUES))]
        m = max(max(row) for row in logits)
        ex = [[math.exp(v - m) for v in row] for row in logits]
        tot = sum(sum(row) for row in ex)
        return [[v / tot for v in row] for row in ex]

    def _family(self, name, args, log=False):
        """The model's densities: the value (discrete; its log if ``log``) or the log-density (continuous)."""
        v = self._family_value(name, args)
        if self.kind == "discrete":
            if log:
                if v <= 0:
                    raise Unevaluable("the log of a density outside its support")
                return math.log(v)
            return v
        return v

    def _family_value(self, name, args):
        if name in ("p_joint", "p_post", "p_lik"):
            a, b, params = args[0], args[1], args[2:]
            xv, zv = (a, b) if name in ("p_joint", "p_lik") else (b, a)
        elif name == "p_prior":
            xv, zv, params = None, args[0], args[1:]
        else:
            xv, zv, params = args[0], None, args[1:]
        if self.kind == "discrete":
            t = self._joint_table(params)
            try:
                i = X_VALUES.index(xv) if xv is not None else None
                j = Z_VALUES.index(zv) if zv is not None else None
            except ValueError:
                return 0.0  # outside the support
            px = (lambda i: sum(t[i]))
            pz = (lambda j: sum(t[k][j] for k in range(len(X_VALUES))))
            return {"p_joint": lambda: t[i][j], "p_post": lambda: t[i][j] / px(i), "p_lik": lambda: t[i][j] / pz(j),
                    "p_prior": lambda: pz(j), "p_evid": lambda: px(i)}[name]()
        g = self._lg
        a = g["a"] + sum(p * g["moves"][k % 4] for k, p in enumerate(params))
        s0, w, b, s = g["s0"], g["w"], g["b"], g["s"]
        if name == "p_prior":  # continuous: log-densities
            return _lognpdf(zv, a, s0**2)
        if name == "p_lik":
            return _lognpdf(xv, w * zv + b, s**2)
        if name == "p_joint":
            return _lognpdf(zv, a, s0**2) + _lognpdf(xv, w * zv + b, s**2)
        if name == "p_evid":
            return _lognpdf(xv, w * a + b, w**2 * s0**2 + s**2)
        prec = 1 / s0**2 + w**2 / s**2
        mean = (a / s0**2 + w * (xv - b) / s**2) / prec
        return _lognpdf(zv, mean, 1 / prec)

    def density(self, name: str, n_vars: int, args: list, log: bool = False) -> float:
        """The density's value (or its log) at ``args`` (its variables, then what it is conditioned on)."""
        if name in _FAMILY:
            self.used.setdefault(name, "the model p(x, z)")
            xv = args[0] if name in ("p_joint", "p_lik", "p_evid") else args[1] if name == "p_post" else None
            params = tuple(args[2:] if name != "p_evid" and name != "p_prior" else args[1:])
            self._seen.setdefault("p", set()).add((xv, params))
            v = self._family(name, args, log)
            return v if log or self.kind == "discrete" else math.exp(v)
        self.used.setdefault(name, "a random density")
        self._seen.setdefault(name, set()).add((n_vars, tuple(args[n_vars:])))
        v = self._density(name, n_vars, args)
        if log and self.kind == "continuous":
            return v
        if self.kind == "continuous":
            return math.exp(v)
        if log:
            if v <= 0:
                raise Unevaluable("the log of a density outside its support")
            return math.log(v)
        return v

    def _density(self, name: str, n_vars: int, args: list) -> float:
        vars_, cond = args[:n_vars], args[n_vars:]
        key = (name, n_vars, len(cond))
        if key not in self._tables:
            r = self.rng
            n = len(Z_VALUES) ** n_vars if self.kind == "discrete" else n_vars
            self._tables[key] = dict(
                a=[r.gauss(0, 1) for _ in range(n)], b=[[r.gauss(0, 1) for _ in range(n)] for _ in cond],
                c=[[r.gauss(0, 0.5) for _ in range(n)] for _ in cond],
                m=[r.uniform(-1, 1) for _ in range(n_vars)], ls=[r.uniform(-0.4, 0.4) for _ in range(n_vars)],
                mb=[[r.uniform(-0.8, 0.8) for _ in range(n_vars)] for _ in cond],
                lb=[[r.uniform(-0.3, 0.3) for _ in range(n_vars)] for _ in cond])
        tb = self._tables[key]
        if self.kind == "discrete":
            doms = [Z_VALUES if not self._is_x(name, k) else X_VALUES for k in range(n_vars)]
            cells = _product(doms)
            logits = [tb["a"][k] + sum(cv * tb["b"][i][k] + cv * cv * tb["c"][i][k] for i, cv in enumerate(cond))
                      for k in range(len(cells))]
            m = max(logits)
            ex = [math.exp(v - m) for v in logits]
            tot = sum(ex)
            try:
                k = cells.index(tuple(vars_))
            except ValueError:
                return 0.0
            return ex[k] / tot
        out = 0.0  # continuous: the log-density
        for k, v in enumerate(vars_):
            mean = tb["m"][k] + sum(cv * tb["mb"][i][k] for i, cv in enumerate(cond))
            logsd = tb["ls"][k] + sum(cv * tb["lb"][i][k] for i, cv in enumerate(cond))
            out += _lognpdf(v, mean, math.exp(2 * logsd))
        return out

    def _is_x(self, name, k):
        return "[x" in name and k == 0

    def function(self, name: str, args: list) -> float:
        if name not in self._funcs:
            r = self.rng
            self._funcs[name] = [(r.uniform(0.5, 1.5), r.uniform(0.5, 1.5), r.uniform(-1, 1), r.uniform(-1, 1))
                                 for _ in range(4)]
        out = 0.0
        for k, t in enumerate(args):
            a, b, c, d = self._funcs[name][k % 4]
            out += a * math.sin(b * t + c) + d * t
        if len(args) > 1:
            out += 0.3 * args[0] * args[1]
        return out

    def indexed(self, e, env) -> float:
        idx = tuple(int(round(self.value(i, env))) for i in e.indices)
        key = (str(e.base.label), idx)
        if key not in self._indexed:
            base = str(e.base.label)
            r = self.rng
            if self.kind == "discrete" and base in ("x", "z"):
                self._indexed[key] = r.choice(X_VALUES if base == "x" else Z_VALUES)
            elif e.base.is_positive or (e.base.label.is_positive if hasattr(e.base.label, "is_positive") else False):
                self._indexed[key] = round(r.uniform(0.3, 2.0), 2)
            else:
                self._indexed[key] = round(r.uniform(-1.5, 1.5), 2)
        return self._indexed[key]

    # -- evaluation -----------------------------------------------------------------------------------------
    def value(self, e, env: dict | None = None) -> float:
        """``e`` as a float under this instance (free symbols from :attr:`values`, bound ones from ``env``)."""
        env = self.values if env is None else env
        v = self._ev(e, env)
        if isinstance(v, complex) or v != v:
            raise Unevaluable("the value is not a real number here")
        return float(v)

    def _ev(self, e, env):
        if e.is_Number:
            return float(e)
        if e is sp.pi:
            return math.pi
        if e is sp.E:
            return math.e
        if isinstance(e, (sp.Symbol, sp.Dummy)):
            if e in env:
                return env[e]
            raise Unevaluable(f"no value for {e}")
        if isinstance(e, sp.Add):
            return sum(self._ev(a, env) for a in e.args)
        if isinstance(e, sp.Mul):
            out = 1.0
            for a in e.args:
                out *= self._ev(a, env)
            return out
        if isinstance(e, sp.Pow):
            base, ex = self._ev(e.base, env), self._ev(e.exp, env)
            if base < 0 and not float(ex).is_integer():
                raise Unevaluable("a fractional power of a negative number")
            if base == 0 and ex < 0:
                raise Unevaluable("division by zero")
            return base ** ex
        if isinstance(e, sp.log):
            return self._log(e.args[0], env)
        if isinstance(e, sp.exp):
            return math.exp(self._ev(e.args[0], env))
        if isinstance(e, sp.Abs):
            return abs(self._ev(e.args[0], env))
        if isinstance(e, (sp.sin, sp.cos, sp.tanh)):
            return {"sin": math.sin, "cos": math.cos, "tanh": math.tanh}[type(e).__name__](self._ev(e.args[0], env))
        if isinstance(e, NormalPDF):
            z, m, v = (self._ev(a, env) for a in e.args)
            if v <= 0:
                raise Unevaluable("a Gaussian with a non-positive variance")
            return _npdf(z, m, v)
        if isinstance(e, Expect):
            return self._expect(e, env)
        if isinstance(e, sp.Integral):
            return self._integral(e, env)
        if isinstance(e, sp.Sum):
            return self._sum(e, env)
        if isinstance(e, sp.Derivative):
            return self._derivative(e, env)
        if isinstance(e, sp.Subs):
            inner = dict(env)
            for var, pt in zip(e.variables, e.point):
                inner[var] = self._ev(pt, env)
            return self._ev(e.expr, inner)
        if isinstance(e, sp.Indexed):
            return self.indexed(e, env)
        if isinstance(e, AppliedUndef):
            args = [self._ev(a, env) for a in e.args]
            name = e.func.__name__
            if name in DENSITY_VARS or name in _FAMILY:
                return self.density(name, DENSITY_VARS.get(name, 1), args)
            if name in ("det", "tr", "diag", "dot"):
                raise Unevaluable(f"{name} of a matrix")
            return self.function(name, args)
        if hasattr(e, "expectation"):  # a KL node
            return self._ev(e.expectation(), env)
        if e.has(sp.Function) and any(hasattr(t, "definition") for t in sp.preorder_traversal(e)):
            return self._ev(expand_witnesses(e), env)
        if e in (sp.oo, -sp.oo):
            return math.inf if e is sp.oo else -math.inf
        raise Unevaluable(f"cannot evaluate {type(e).__name__}")

    def _log(self, e, env):
        """``log e``, factor by factor and in closed form for Gaussians, so far tails do not underflow to log 0."""
        if isinstance(e, NormalPDF):
            z, m, v = (self._ev(a, env) for a in e.args)
            if v <= 0:
                raise Unevaluable("a Gaussian with a non-positive variance")
            return _lognpdf(z, m, v)
        if isinstance(e, sp.Mul):
            vals = [self._ev(a, env) if not _is_model_density(a) else None for a in e.args]
            if all(v is None or v > 0 for v in vals):
                return sum(self._log(a, env) for a in e.args)
        if isinstance(e, sp.Pow) and e.exp.is_number:
            try:
                return float(e.exp) * self._log(e.base, env)
            except Unevaluable:
                pass
        if isinstance(e, sp.exp):
            return self._ev(e.args[0], env)
        if _is_model_density(e):
            args = [self._ev(a, env) for a in e.args]
            return self.density(e.func.__name__, DENSITY_VARS.get(e.func.__name__, 1), args, log=True)
        v = self._ev(e, env)
        if v <= 0:
            raise Unevaluable("the log of a non-positive number")
        return math.log(v)

    def _over(self, var, lo, hi, f, env):
        """Sum (discrete) or integral (continuous) of ``f(value)`` over ``var`` in [lo, hi]."""
        if self.kind == "discrete":
            tot = 0.0
            for v in self.domain(var):
                if lo <= v <= hi:
                    inner = dict(env)
                    inner[var] = v
                    tot += f(inner)
            return tot
        import mpmath

        def g(t):
            inner = dict(env)
            inner[var] = float(t)
            return f(inner)

        pts = [lo, hi] if (math.isinf(lo) or math.isinf(hi)) else [lo, hi]
        if math.isinf(lo) and math.isinf(hi):
            pts = [-mpmath.inf, -2, 0, 2, mpmath.inf]
        else:
            pts = [mpmath.mpf(lo) if not math.isinf(lo) else -mpmath.inf,
                   mpmath.mpf(hi) if not math.isinf(hi) else mpmath.inf]
        with mpmath.workdps(15):
            return float(mpmath.quad(g, pts, maxdegree=8))

    def _expect(self, e: Expect, env):
        var = e.var
        if isinstance(var, sp.Indexed):
            raise Unevaluable("an expectation over an indexed variable")
        return self._over(var, -math.inf, math.inf, lambda inner: self._ev(e.dens, inner) * self._ev(e.expr, inner),
                          env)

    def _integral(self, e: sp.Integral, env):
        if len(e.limits) != 1 or len(e.limits[0]) != 3:
            raise Unevaluable("an integral without its limits")
        var, lo, hi = e.limits[0]
        if self.kind == "continuous" and (lo == -sp.oo or hi == sp.oo):
            for term in sp.Add.make_args(sp.expand(e.function)):
                if not any(_is_model_density(t) or isinstance(t, NormalPDF) for t in sp.preorder_traversal(term)):
                    raise Unevaluable("an integral over an infinite range of a term without a density (it need "
                                       "not converge)")
        return self._over(var, self._ev(lo, env), self._ev(hi, env), lambda inner: self._ev(e.function, inner), env)

    def _sum(self, e: sp.Sum, env):
        out = e.function
        if len(e.limits) != 1:
            raise Unevaluable("a multiple sum")
        k, lo, hi = e.limits[0]
        lo, hi = int(round(self._ev(lo, env))), int(round(self._ev(hi, env)))
        if hi - lo > 50:
            raise Unevaluable("a sum of more than 50 terms")
        tot = 0.0
        for i in range(lo, hi + 1):
            inner = dict(env)
            inner[k] = float(i)
            tot += self._ev(out, inner)
        return tot

    def _derivative(self, e: sp.Derivative, env):
        (var, count), = e.variable_count if len(e.variable_count) == 1 else (None,)
        if var is None or count > 2 or not isinstance(var, (sp.Symbol, sp.Dummy)):
            raise Unevaluable("a mixed or high-order derivative")
        if var not in env:
            raise Unevaluable(f"no value for {var}")
        if self.kind == "discrete" and (_base(var) in ("x", "z")):
            raise Unevaluable("a derivative in a discrete variable")
        h = 1e-4 * (1 + abs(env[var]))

        def at(t):
            inner = dict(env)
            inner[var] = t
            return self._ev(e.expr, inner)

        x0 = env[var]
        if count == 1:  # fourth-order central difference
            return (-at(x0 + 2 * h) + 8 * at(x0 + h) - 8 * at(x0 - h) + at(x0 - 2 * h)) / (12 * h)
        return (at(x0 + h) - 2 * at(x0) + at(x0 - h)) / (h * h)

    def describe(self, symbols=None) -> str:
        """The values of the free symbols (``symbols`` only, when given), e.g. ``"μ = 0.3, σ = 1.2"``."""
        vals = {k: v for k, v in self.values.items() if symbols is None or k in symbols}
        return ", ".join(f"{_pretty(k)} = {_fmt_short(v)}" for k, v in sorted(vals.items(), key=lambda kv: kv[0].name))

    def _tables_text(self, limit: int = 2) -> list:
        """The discrete densities this instance evaluated, as tables over z = (-1.3, -0.4, 0.6, 1.7)."""
        zs = "(" + ", ".join(_fmt_short(v) for v in Z_VALUES) + ")"
        out = [f"z = {zs}"]
        known = set(self.values.values()) | set(X_VALUES) | set(Z_VALUES) | set(self._indexed.values()) | {None}

        def at_known(cond):  # the instance's own values, not the shifted ones of a finite difference
            flat = [cond[0], *cond[1]] if not isinstance(cond[0], int) else list(cond[1])
            return all(c in known for c in flat)

        for name, seen in sorted(self._seen.items()):
            conds = [c for c in sorted(seen, key=str) if at_known(c)] or sorted(seen, key=str)
            for cond in conds[:limit]:
                if name == "p":
                    xv, params = cond
                    t = self._joint_table(params)
                    if xv is None or xv not in X_VALUES:
                        row = [sum(t[i][j] for i in range(len(X_VALUES))) for j in range(len(Z_VALUES))]
                        out.append("p(z) = (" + ", ".join(f"{v:.3f}" for v in row) + ")")
                    else:
                        row = t[X_VALUES.index(xv)]
                        out.append(f"p(x = {_fmt_short(xv)}, z) = (" + ", ".join(f"{v:.3f}" for v in row) + ")")
                    continue
                n_vars, cvals = cond
                if n_vars != 1:
                    continue
                letter = name.split("[")[0]
                probs = [self._density(name, 1, [zv, *cvals]) for zv in Z_VALUES]
                given = (" | " + ", ".join(_fmt_short(c) for c in cvals)) if cvals else ""
                out.append(f"{letter}(z{given}) = (" + ", ".join(f"{v:.3f}" for v in probs) + ")")
        return list(dict.fromkeys(out))

    def describe_model(self) -> str:
        """The random model in words (the densities this instance evaluated), with its seed."""
        if not self.used:
            return ""
        if self.kind == "discrete":
            return "; ".join(self._tables_text()) + f"; seed {self.seed}"
        g = self._lg
        bits = []
        if any(k in _FAMILY for k in self.used):
            bits.append(f"p(z) = N({_fmt_short(g['a'])}, {_fmt_short(g['s0'] ** 2)}), "
                        f"p(x | z) = N({_fmt_short(g['w'])} z + {_fmt_short(g['b'])}, {_fmt_short(g['s'] ** 2)})")
        if any(k not in _FAMILY for k in self.used):
            bits.append("every other density a random Gaussian")
        return ", ".join(bits) + f", seed {self.seed}"


def _product(doms):
    out = [()]
    for d in doms:
        out = [t + (v,) for t in out for v in d]
    return out


def _is_model_density(e) -> bool:
    return isinstance(e, AppliedUndef) and (e.func.__name__ in DENSITY_VARS or e.func.__name__ in _FAMILY)


def _lognpdf(z, m, v):
    """log N(z; m, v) (``v`` a variance)."""
    return -(z - m) ** 2 / (2 * v) - 0.5 * math.log(2 * math.pi * v)


def _npdf(z, m, v):
    """N(z; m, v) (``v`` a variance): the one Gaussian density of both kinds of instance."""
    return math.exp(-(z - m) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v)


_GREEK_CHARS = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
                "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ",
                "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
                "Sigma": "Σ"}


def _pretty(s) -> str:
    name = getattr(s, "name", str(s))
    head, _, tail = name.partition("_")
    return _GREEK_CHARS.get(head, head) + (("_" + tail) if tail else "")


def _fmt_short(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
