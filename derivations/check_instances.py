r"""Random instances for the student checker (:mod:`derivations.check`): the objects of a derivation made concrete.

A lecturer checks a general step on paper by trying it on a model.  :class:`Instance` does the same for the
objects of :mod:`derivations.latex_reader` (and of :mod:`derivations.expectation`):

* **discrete** (``kind="discrete"``): :math:`x \in \{0, 1, 2\}`, :math:`z \in \{-1.3, -0.4, 0.6, 1.7\}` (every
  other variable takes the values of :math:`z`); the model :math:`p(x, z)` is a random table (softmax of random
  logits, moved by the parameters :math:`\theta`), and :math:`p(x)`, :math:`p(z)`, :math:`p(x \mid z)`,
  :math:`p(z \mid x)` are its marginals and conditionals; every other density (``q(z | x, phi)``, ``r(z)``) is
  a random table normalized over its variable, whose logits depend on what it is conditioned on.  Expectations,
  integrals and sums over a variable are exact finite sums.
* **continuous** (``kind="continuous"``): :math:`p(z) = \mathcal{N}(a, s_0^2)`,
  :math:`p(x \mid z) = \mathcal{N}(w z + b, s^2)`, with the evidence and the posterior in closed form; every
  other density a Gaussian whose mean and log-scale depend on what it is conditioned on; expectations and
  integrals by adaptive quadrature (``mpmath.quad``), with their limits.

Undefined functions (``f``, ``g``) are random smooth functions; free symbols random numbers with their
assumptions (positive symbols in [0.3, 2], sizes N, K, D in {1, 2, 3}); derivatives central differences.
:func:`Instance.value` returns a float, or raises :class:`NotEvaluable` for what it cannot evaluate
(``det``, ``tr``, a derivative in a discrete variable...).  Pure Python (``math``, ``random``, ``mpmath``).
"""
from __future__ import annotations

import math
import random

import sympy as sp
from sympy.core.function import AppliedUndef

from derivations.expectation import DiagNormalPDF, Expect, NormalPDF
from derivations.witnesses import expand_witnesses

__all__ = ["Instance", "NotEvaluable", "X_VALUES", "Z_VALUES", "needs_continuous"]

X_VALUES = (0.0, 1.0, 2.0)
Z_VALUES = (-1.3, -0.4, 0.6, 1.7)
_FAMILY = {"p_joint", "p_post", "p_lik", "p_prior", "p_evid"}


class NotEvaluable(Exception):
    """The expression holds something an instance cannot evaluate (the message says what)."""


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
            raise NotEvaluable("no finite domain in the continuous model")
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
                    raise NotEvaluable("the log of a density outside its support")
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
                raise NotEvaluable("the log of a density outside its support")
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
            raise NotEvaluable("the value is not a real number here")
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
            raise NotEvaluable(f"no value for {e}")
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
                raise NotEvaluable("a fractional power of a negative number")
            if base == 0 and ex < 0:
                raise NotEvaluable("division by zero")
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
                raise NotEvaluable("a Gaussian with a non-positive variance")
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
            from derivations.expectation import DENSITY_VARS

            args = [self._ev(a, env) for a in e.args]
            name = e.func.__name__
            if name in DENSITY_VARS or name in _FAMILY:
                return self.density(name, DENSITY_VARS.get(name, 1), args)
            if name in ("det", "tr", "diag", "dot"):
                raise NotEvaluable(f"{name} of a matrix")
            return self.function(name, args)
        if hasattr(e, "expectation"):  # a KL node
            return self._ev(e.expectation(), env)
        if e.has(sp.Function) and any(hasattr(t, "definition") for t in sp.preorder_traversal(e)):
            return self._ev(expand_witnesses(e), env)
        if e in (sp.oo, -sp.oo):
            return math.inf if e is sp.oo else -math.inf
        raise NotEvaluable(f"cannot evaluate {type(e).__name__}")

    def _log(self, e, env):
        """``log e``, factor by factor and in closed form for Gaussians, so far tails do not underflow to log 0."""
        if isinstance(e, NormalPDF):
            z, m, v = (self._ev(a, env) for a in e.args)
            if v <= 0:
                raise NotEvaluable("a Gaussian with a non-positive variance")
            return _lognpdf(z, m, v)
        if isinstance(e, sp.Mul):
            vals = [self._ev(a, env) if not _is_density(a) else None for a in e.args]
            if all(v is None or v > 0 for v in vals):
                return sum(self._log(a, env) for a in e.args)
        if isinstance(e, sp.Pow) and e.exp.is_number:
            try:
                return float(e.exp) * self._log(e.base, env)
            except NotEvaluable:
                pass
        if isinstance(e, sp.exp):
            return self._ev(e.args[0], env)
        if _is_density(e):
            from derivations.expectation import DENSITY_VARS

            args = [self._ev(a, env) for a in e.args]
            return self.density(e.func.__name__, DENSITY_VARS.get(e.func.__name__, 1), args, log=True)
        v = self._ev(e, env)
        if v <= 0:
            raise NotEvaluable("the log of a non-positive number")
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
            raise NotEvaluable("an expectation over an indexed variable")
        return self._over(var, -math.inf, math.inf, lambda inner: self._ev(e.dens, inner) * self._ev(e.expr, inner),
                          env)

    def _integral(self, e: sp.Integral, env):
        if len(e.limits) != 1 or len(e.limits[0]) != 3:
            raise NotEvaluable("an integral without its limits")
        var, lo, hi = e.limits[0]
        if self.kind == "continuous" and (lo == -sp.oo or hi == sp.oo):
            for term in sp.Add.make_args(sp.expand(e.function)):
                if not any(_is_density(t) or isinstance(t, NormalPDF) for t in sp.preorder_traversal(term)):
                    raise NotEvaluable("an integral over an infinite range of a term without a density (it need "
                                       "not converge)")
        return self._over(var, self._ev(lo, env), self._ev(hi, env), lambda inner: self._ev(e.function, inner), env)

    def _sum(self, e: sp.Sum, env):
        out = e.function
        if len(e.limits) != 1:
            raise NotEvaluable("a multiple sum")
        k, lo, hi = e.limits[0]
        lo, hi = int(round(self._ev(lo, env))), int(round(self._ev(hi, env)))
        if hi - lo > 50:
            raise NotEvaluable("a sum of more than 50 terms")
        tot = 0.0
        for i in range(lo, hi + 1):
            inner = dict(env)
            inner[k] = float(i)
            tot += self._ev(out, inner)
        return tot

    def _derivative(self, e: sp.Derivative, env):
        (var, count), = e.variable_count if len(e.variable_count) == 1 else (None,)
        if var is None or count > 2 or not isinstance(var, (sp.Symbol, sp.Dummy)):
            raise NotEvaluable("a mixed or high-order derivative")
        if var not in env:
            raise NotEvaluable(f"no value for {var}")
        if self.kind == "discrete" and (_base(var) in ("x", "z")):
            raise NotEvaluable("a derivative in a discrete variable")
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
        return ", ".join(f"{_pretty(k)} = {_fmt(v)}" for k, v in sorted(vals.items(), key=lambda kv: kv[0].name))

    def _tables_text(self, limit: int = 2) -> list:
        """The discrete densities this instance evaluated, as tables over z = (-1.3, -0.4, 0.6, 1.7)."""
        zs = "(" + ", ".join(_fmt(v) for v in Z_VALUES) + ")"
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
                        out.append(f"p(x = {_fmt(xv)}, z) = (" + ", ".join(f"{v:.3f}" for v in row) + ")")
                    continue
                n_vars, cvals = cond
                if n_vars != 1:
                    continue
                letter = name.split("[")[0]
                probs = [self._density(name, 1, [zv, *cvals]) for zv in Z_VALUES]
                given = (" | " + ", ".join(_fmt(c) for c in cvals)) if cvals else ""
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
            bits.append(f"p(z) = N({_fmt(g['a'])}, {_fmt(g['s0'] ** 2)}), p(x | z) = N({_fmt(g['w'])} z + "
                        f"{_fmt(g['b'])}, {_fmt(g['s'] ** 2)})")
        if any(k not in _FAMILY for k in self.used):
            bits.append("every other density a random Gaussian")
        return ", ".join(bits) + f", seed {self.seed}"


def _product(doms):
    out = [()]
    for d in doms:
        out = [t + (v,) for t in out for v in d]
    return out


def _is_density(e) -> bool:
    from derivations.expectation import DENSITY_VARS

    return isinstance(e, AppliedUndef) and (e.func.__name__ in DENSITY_VARS or e.func.__name__ in _FAMILY)


def _lognpdf(z, m, v):
    return -(z - m) ** 2 / (2 * v) - 0.5 * math.log(2 * math.pi * v)


def _npdf(z, m, v):
    return math.exp(-(z - m) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v)


_GREEK_CHARS = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
                "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ",
                "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
                "Sigma": "Σ"}


def _pretty(s) -> str:
    name = getattr(s, "name", str(s))
    head, _, tail = name.partition("_")
    return _GREEK_CHARS.get(head, head) + (("_" + tail) if tail else "")


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
