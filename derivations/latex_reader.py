r"""A reader of the course's LaTeX notation: a line as a lecturer writes it -> the engine's SymPy objects.

>>> from derivations.latex_reader import read_latex
>>> read_latex(r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]")      # doctest: +SKIP
Expect(log(p_joint(x, z)/q(z)), z, q(z))

What it reads (the notation of the book, of Prince's *Understanding Deep Learning* ch. 17 and of the lecture
slides in ``shared/seeds``):

========================================  =================================================================
LaTeX                                     engine object
========================================  =================================================================
``p(x, z)``, ``p(z \mid x)``, ``p(x)``,   the model's densities of :mod:`derivations.notation` (``joint``,
``p(x \mid z)``, ``p(z)``                 ``post``, ``evid``, ``lik``, ``prior``), one letter p told apart by
                                          its arguments; ``p_\theta(x)`` adds the parameter as a conditioned
                                          argument (``evid(x, theta)``)
``q(z)``, ``q_\phi(z \mid x)``            ``q(z)``, ``q(z, x, phi)`` (:data:`derivations.notation.q`)
any other density (``p(\epsilon)``,       an undefined positive density (:func:`derivations.expectation.density`)
``q_{\mathrm{agg}}(z)``, ``r(z)``)        named by its letter and its signature
``f(z)``, ``g``, ``h``, ``\mu_\phi(x)``   an undefined real function
``\mathbb{E}_{q(z \mid x)}[\cdots]``,     :class:`derivations.expectation.Expect` over the density's first
``\mathbb{E}_{z \sim q(z)}[\cdots]``      variable
``\mathrm{KL}(q \,\|\, p)``,              :class:`KL` (kept for naming mistakes), expanded by :func:`expand_kl`
``D_{\mathrm{KL}}(q \| p)``               to :math:`\mathbb{E}_q[\log q - \log p]`; bare letters ``q``, ``p``
                                          are resolved to the densities of that letter used elsewhere
``\mathcal{N}(z; \mu, \sigma^2)``         :class:`derivations.expectation.NormalPDF` (its third argument is
                                          the variance)
``\sum_{n=1}^{N} \cdots``                 ``Sum``; a subscript that holds a bound index is ``Indexed``
                                          (``x_n`` -> ``x[n]``), any other one is part of the name
                                          (``\sigma_0``); ``w^{(k)}`` is ``w_k``, a label, not a power
``\int \cdots \, dz``, ``\int_a^b``       ``Integral`` (over the real line when no limits are written)
``\lim_{\sigma \to 0} \cdots``            ``Limit`` (from the right, SymPy's default; ``\to`` or ``\rightarrow``)
``\frac``, ``\sqrt``, ``^``, ``\log``,    SymPy arithmetic; ``\log`` and ``\exp`` without parentheses take
``\exp``, ``\cdot``, ``\times``           the whole product that follows (``\log 2\pi\sigma^2``)
``\nabla_\phi``, ``\frac{\partial}{       ``Derivative``
\partial \mu}``, ``f'(z)``
``\det``, ``\operatorname{tr}``,          undefined real functions ``det``, ``tr``, ``diag``; ``a^\top b``
``\operatorname{diag}``, ``^\top``        is an opaque ``dot(a, b)`` (read, not yet checked)
``\left``, ``\right``, ``\,``, ``\quad``  ignored (layout only)
========================================  =================================================================

Not read yet (refused with the column and what to write, never guessed): named quantities (``\mathcal{L}``,
``\mathbb{H}``, ``\mathbb{I}``: write their definitions), ``\prod``, ``\approx``, norms, an expectation
under a density of several variables (``\mathbb{E}_{p(x, z)}``), a sum without its bounds, an integral without
its differential, multiple integrals.  ``\mathrm{e}`` is Euler's number; a plain ``e`` is a symbol.  Matrices are read but not checked:
``\det``, ``\operatorname{tr}``, ``\operatorname{diag}`` and ``a^\top b`` are opaque functions, so a step that
needs them is "cannot decide".

Symbols are real; ``N, M, K, D, P, L, B`` are positive integers (sizes), and assumptions such as
``\sigma > 0`` come from the ``% assume:`` lines of :mod:`derivations.check` (argument ``assume`` here).

The grammar is a lark LALR(1) grammar (:data:`GRAMMAR`) over tokens of a small scanner (:class:`_Scanner`);
a line that does not parse raises :class:`LatexReadError` naming the column and the token.  Pure Python
(SymPy and lark only), so it also runs in Pyodide.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

import sympy as sp
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from derivations import notation
from derivations.expectation import Expect, NormalPDF, density

__all__ = ["read_latex", "read_relation", "LatexReadError", "KL", "expand_kl", "Reader", "GRAMMAR",
           "SIZE_LETTERS"]

#: upper-case letters read as positive integers (the sizes of the course: data set, batch, samples, dimension...)
SIZE_LETTERS = frozenset("NMKDPLB")
#: letters read as densities when applied: p(...), q(...), r(...), \pi(...)
DENSITY_LETTERS = frozenset({"p", "q", "r", "pi"})
#: letters read as undefined real functions when applied
FUNCTION_LETTERS = frozenset({"f", "g", "h", "ell", "phi", "varphi", "psi", "T", "F", "G", "s"})
#: Greek letters that, as a subscript of a density, are its parameters (p_\theta, q_\phi)
PARAM_LETTERS = frozenset({"theta", "phi", "psi", "lambda", "eta", "vartheta", "varphi"})

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota",
          "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
          "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}
_UNICODE_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ϵ": "epsilon",
                  "ζ": "zeta", "η": "eta", "θ": "theta", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi",
                  "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "φ": "phi", "ϕ": "phi", "χ": "chi", "ψ": "psi",
                  "ω": "omega", "Σ": "Sigma", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega", "Θ": "Theta", "Λ": "Lambda"}
_FUNCS = {"log", "ln", "exp", "det", "sin", "cos", "tanh", "tr", "diag"}
_IGNORED = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
            "quad", "qquad", "displaystyle", "textstyle", "limits", "nolimits", "middle"}
_SPACES = {",", ";", ":", "!", " "}
_RELS = {"ge": ">=", "geq": ">=", "le": "<=", "leq": "<=", "ne": "!=", "neq": "!="}
_FONTS = {"mathrm", "operatorname", "mathbb", "mathcal", "mathbf", "boldsymbol", "bm", "mathit", "text", "textrm"}

GRAMMAR = r"""
start: expr
     | expr REL expr                       -> relation

?expr: expr PLUS term                      -> add
     | expr MINUS term                     -> minus
     | term
?term: MINUS term                          -> neg
     | PLUS term
     | product
product: factor (MULOP? factor | DIV factor)*

?factor: postfix
       | FUNC product                      -> func
       | SUM "_" arg ("^" arg)? product    -> sum
       | INT ("_" arg "^" arg)? product    -> integral
       | NABLA "_" arg product             -> nabla
       | EXPECT ("_" arg)? product         -> expect
       | LIM "_" arg product               -> limit

?postfix: primary
        | postfix "_" arg                  -> sub
        | postfix "^" arg                  -> sup
        | postfix PRIME                    -> prime
        | postfix "(" arglist ")"          -> call

?primary: LETTER                           -> letter
        | GREEK                            -> letter
        | NAME                             -> name
        | NUMBER                           -> number
        | INFTY                            -> infty
        | PARTIAL                          -> partial
        | NORMAL                           -> normal
        | TOP                              -> top
        | "(" expr ")"                     -> group
        | "[" expr "]"                     -> group
        | "{" expr "}"                     -> brace
        | LABS expr RABS                   -> abs
        | FRAC arg arg                     -> frac
        | SQRT arg                         -> sqrt
        | KL "(" expr DBAR expr ")"        -> kl
        | KL "[" expr DBAR expr "]"        -> kl

arg: primary
   | "{" expr REL expr "}"                 -> arg_rel
   | "{" expr SIM expr "}"                 -> arg_sim
   | "{" expr TO expr "}"                  -> arg_to

arglist: args (BAR args)?
args: expr ((COMMA | SEMI) expr)*

%declare LETTER GREEK NAME NUMBER INFTY PARTIAL NORMAL TOP LABS RABS FRAC SQRT KL DBAR FUNC SUM INT NABLA EXPECT
%declare PLUS MINUS MULOP DIV REL SIM BAR COMMA SEMI PRIME LIM TO
"""


class LatexReadError(ValueError):
    """An unreadable line: ``column`` (1-based, in the line) and ``token`` say where; ``str()`` is one line."""

    def __init__(self, message: str, column: int | None = None, token: str | None = None, text: str = ""):
        self.column, self.token, self.text = column, token, text
        super().__init__(message)


# ---------------------------------------------------------------------------------------------------------
# Scanner: characters -> tokens (commands folded: \mathbb{E} -> EXPECT, \mathrm{KL} -> KL, \left dropped)
# ---------------------------------------------------------------------------------------------------------

#: the literal LaTeX of the named quantities of the line being read (longest first), see :class:`Reader`
_NAMES: contextvars.ContextVar = contextvars.ContextVar("latex_reader_names", default=())
_NAMED = "__named_{}__"


class _Scanner:
    def __init__(self, text: str, names: tuple = ()):
        self.text, self.i, self.out = text, 0, []
        self.groups: list = []  # open brackets: (char, is_call)
        self.names = names

    def named(self, pos) -> bool:
        """A named quantity of the reader's table written exactly here: one NAME token."""
        for k, key in self.names:
            if self.text.startswith(key, pos):
                end = pos + len(key)
                if key[-1].isalpha() and end < len(self.text) and self.text[end].isalpha():
                    continue  # 'v' is not the start of 'var'
                self.i = end
                self.tok("NAME", _NAMED.format(k), pos)
                return True
        return False

    def tok(self, type_, value, pos):
        self.out.append(Token(type_, value, start_pos=pos, line=1, column=pos + 1))

    def error(self, msg, pos, token):
        raise LatexReadError(f"unreadable at column {pos + 1}: {msg} '{token}'", pos + 1, token, self.text)

    def brace_word(self, cmd_pos):
        """The letters of ``{...}`` after a font command, e.g. ``KL`` of ``\\mathrm{KL}``; None if no brace."""
        t, j = self.text, self.i
        while j < len(t) and t[j] == " ":
            j += 1
        if j >= len(t):
            return None
        if t[j] != "{":  # \mathbb E, \mathcal N: one letter or one command
            if t[j] == "\\":
                k = j + 1
                while k < len(t) and t[k].isalpha():
                    k += 1
                self.i = k
                return t[j:k]
            self.i = j + 1
            return t[j]
        depth, k = 0, j
        while k < len(t):
            if t[k] == "{":
                depth += 1
            elif t[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        if k >= len(t):
            self.error("unclosed brace after", cmd_pos, t[cmd_pos:j + 1])
        self.i = k + 1
        return t[j + 1:k].strip()

    def prev_type(self):
        return self.out[-1].type if self.out else None

    def scan(self) -> list:
        t = self.text
        while self.i < len(t):
            c, pos = t[self.i], self.i
            if self.names and not c.isspace() and self.named(pos):
                continue
            if c.isspace():
                self.i += 1
            elif c.isdigit() or (c == "." and self.i + 1 < len(t) and t[self.i + 1].isdigit()):
                j = self.i
                while j < len(t) and (t[j].isdigit() or t[j] == "."):
                    j += 1
                if self.prev_type() in ("FRAC",) or (len(self.out) >= 2 and self.out[-2].type == "FRAC"
                                                     and self.out[-1].type == "NUMBER"):
                    j = self.i + 1  # \frac12: one digit per argument, as TeX reads it
                self.tok("NUMBER", t[self.i:j], pos)
                self.i = j
            elif c in _UNICODE_GREEK:  # μ as \mu, so both spellings are one symbol
                self.i += 1
                self.tok("GREEK", _UNICODE_GREEK[c], pos)
            elif c.isalpha() and not c.isascii():
                self.error("unexpected character (write it as a LaTeX command)", pos, c)
            elif c.isalpha():
                self.i += 1
                if c == "D" and t[self.i:self.i + 1] == "_":  # D_{\mathrm{KL}}
                    save = self.i
                    self.i += 1
                    word = self.brace_word(pos)
                    if word in (r"\mathrm{KL}", "KL", r"\text{KL}", r"\operatorname{KL}", r"\mathbb{KL}"):
                        self.tok("KL", "KL", pos)
                        continue
                    self.i = save
                self.tok("LETTER", c, pos)
            elif c == "\\":
                self.command(pos)
            elif c == "|":
                self.i += 1
                self.bar(pos)
            elif c in "([{":
                self.i += 1
                is_call = c == "(" and self.prev_type() in ("LETTER", "GREEK", "NAME", "NORMAL", "RBRACE_SCRIPT",
                                                            "PRIME", "KL")
                self.groups.append((c, is_call))
                self.tok({"(": "LPAR", "[": "LSQB", "{": "LBRACE"}[c], c, pos)
            elif c in ")]}":
                self.i += 1
                if self.groups:
                    self.groups.pop()
                self.tok({")": "RPAR", "]": "RSQB", "}": "RBRACE"}[c], c, pos)
            elif c in "+-":
                self.i += 1
                self.tok("PLUS" if c == "+" else "MINUS", c, pos)
            elif c in "*":
                self.i += 1
                self.tok("MULOP", c, pos)
            elif c == "/":
                self.i += 1
                self.tok("DIV", c, pos)
            elif c in "=<>":
                self.i += 1
                val = c
                if t[self.i:self.i + 1] == "=" and c in "<>":
                    self.i += 1
                    val = c + "="
                self.tok("REL", val, pos)
            elif c == "^":
                self.i += 1
                self.tok("CIRCUMFLEX", c, pos)
            elif c == "_":
                self.i += 1
                self.tok("UNDERSCORE", c, pos)
            elif c == ",":
                self.i += 1
                self.tok("COMMA", c, pos)
            elif c == ";":
                self.i += 1
                self.tok("SEMI", c, pos)
            elif c == "'":
                self.i += 1
                self.tok("PRIME", c, pos)
            elif c == "~":
                self.i += 1
            else:
                self.error("unexpected character", pos, c)
        return self.out

    def bar(self, pos):
        # a bar inside the parentheses of a call is the conditional bar of p(z | x); elsewhere |...| is abs
        if self.groups and self.groups[-1] == ("(", True):
            self.tok("BAR", "|", pos)
        elif self.prev_type() in (None, "PLUS", "MINUS", "MULOP", "REL", "LPAR", "LSQB", "LBRACE", "FUNC", "COMMA",
                                  "EXPECT", "SUM", "INT", "FRAC", "NABLA", "LABS") or self.prev_type() in ("UNDERSCORE", "CIRCUMFLEX"):
            self.tok("LABS", "|", pos)
        else:
            self.tok("RABS", "|", pos)

    def command(self, pos):
        t = self.text
        j = self.i + 1
        if j < len(t) and not t[j].isalpha():  # \, \; \! \  \| \{ \}
            ch = t[j]
            self.i = j + 1
            if ch in _SPACES:
                return
            if ch == "|":
                self.tok("DBAR", r"\|", pos)
                return
            self.error("unsupported command", pos, "\\" + ch)
        while j < len(t) and t[j].isalpha():
            j += 1
        name = t[self.i + 1:j]
        self.i = j
        if name in _IGNORED:
            if name in ("left", "right", "middle") and t[self.i:self.i + 1] == ".":
                self.i += 1  # \left. and \right.
            elif name in ("left", "right") and t[self.i:self.i + 1] == "|":
                self.i += 1
                self.tok("LABS" if name == "left" else "RABS", "|", pos)
            elif name in ("left", "right") and t[self.i:self.i + 2] == r"\|":
                self.i += 2
                self.error("a norm is not supported:", pos, "\\" + name + r"\|")
            return
        if name in ("lvert", "rvert"):
            self.tok("LABS" if name == "lvert" else "RABS", "|", pos)
            return
        if name in ("Vert",):
            self.tok("DBAR", r"\|", pos)
            return
        if name == "mid":
            self.tok("BAR", "|", pos)
            return
        if name in _GREEK:
            self.tok("GREEK", name, pos)
            return
        if name in _FUNCS:
            self.tok("FUNC", name, pos)
            return
        if name in _RELS:
            self.tok("REL", _RELS[name], pos)
            return
        simple = {"frac": "FRAC", "tfrac": "FRAC", "dfrac": "FRAC", "sqrt": "SQRT", "sum": "SUM", "int": "INT",
                  "nabla": "NABLA", "partial": "PARTIAL", "infty": "INFTY", "sim": "SIM", "cdot": "MULOP",
                  "times": "MULOP", "top": "TOP", "intercal": "TOP", "KL": "KL", "lim": "LIM", "to": "TO",
                  "rightarrow": "TO"}
        if name in simple:
            self.tok(simple[name], name, pos)
            return
        if name in _FONTS:
            word = self.brace_word(pos)
            if word is None:
                self.error("font command without its argument", pos, "\\" + name)
            if name in ("text", "textrm"):
                return  # prose inside math (a justification the block reader did not take out): ignored
            if word == "E" and name in ("mathbb", "mathrm", "operatorname", "mathbf"):
                self.tok("EXPECT", "E", pos)
            elif word == "KL":
                self.tok("KL", "KL", pos)
            elif word == "N" and name == "mathcal":
                self.tok("NORMAL", "N", pos)
            elif name in ("mathbb", "mathcal"):  # \mathcal{L}, \mathbb{H}, \mathbb{I}: named quantities
                self.error("a named quantity is not read (write its definition, e.g. the ELBO as "
                           "\\mathbb{E}_{q(z)}[\\log p(x, z) - \\log q(z)]):", pos, "\\" + name + "{" + word + "}")
            elif word in _FUNCS:
                self.tok("FUNC", word, pos)
            elif word == "e" and name in ("mathrm", "operatorname"):
                self.tok("NAME", "__euler__", pos)  # \mathrm{e}: Euler's number
            elif word == "d" and name in ("mathrm", "operatorname"):
                self.tok("LETTER", "d", pos)
            elif word.startswith("\\") and word[1:] in _GREEK:
                self.tok("GREEK", word[1:], pos)  # \boldsymbol{\mu}: a bold mu is mu
            elif len(word) == 1 and word.isalpha():
                self.tok("LETTER", word, pos)  # \mathbf{x}: a bold x is x
            elif word.isalnum():
                self.tok("NAME", word, pos)
            else:
                self.error("unsupported font argument", pos, "\\" + name + "{" + word + "}")
            return
        self.error("unknown command", pos, "\\" + name)


class _TokenLexer(Lexer):
    """lark's hook for a custom lexer: the tokens of :class:`_Scanner`."""

    def __init__(self, lexer_conf):
        pass

    def lex(self, data):
        yield from _Scanner(data, _NAMES.get()).scan()


_PARSER = None


def _parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        _PARSER = Lark(GRAMMAR, parser="lalr", lexer=_TokenLexer, maybe_placeholders=False)
    return _PARSER


def parse_tree(text: str, names: tuple = ()) -> Tree:
    """The lark parse tree of one line (raises :class:`LatexReadError`).

    ``names``: ``((k, literal LaTeX), ...)``, longest first: each literal is read as one token ``__named_k__``."""
    token = _NAMES.set(tuple(names))
    try:
        return _parser().parse(text)
    except LatexReadError:
        raise
    except UnexpectedEOF as exc:
        raise LatexReadError(f"unreadable at column {len(text) + 1}: the line ends too early (expected one of "
                             f"{', '.join(sorted(_describe_terminal(t) for t in exc.expected)[:6])})",
                             len(text) + 1, "end of line", text) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            col = len(text) + 1
            raise LatexReadError(f"unreadable at column {col}: the line ends too early (an unclosed bracket or a "
                                 f"missing operand?)", col, "end of line", text) from None
        shown = _shown(tok)
        raise LatexReadError(f"unreadable at column {tok.column}: unexpected '{shown}'", tok.column, shown,
                             text) from None
    except UnexpectedInput as exc:  # pragma: no cover - the scanner raises first
        col = getattr(exc, "column", None)
        raise LatexReadError(f"unreadable at column {col}: {exc}", col, None, text) from None
    finally:
        _NAMES.reset(token)


_COMMAND_TOKENS = {"GREEK", "FUNC", "FRAC", "SQRT", "SUM", "INT", "NABLA", "PARTIAL", "INFTY", "SIM", "TOP", "LIM",
                   "TO"}


def _shown(tok) -> str:
    """A token as it was written (commands with their backslash)."""
    v = str(tok.value)
    return "\\" + v if tok.type in _COMMAND_TOKENS and not v.startswith("\\") else v


def _describe_terminal(name: str) -> str:
    return {"RPAR": "')'", "RSQB": "']'", "RBRACE": "'}'"}.get(name, name)


# ---------------------------------------------------------------------------------------------------------
# KL: kept as a node while reading (to name a KL in the wrong direction), expanded for the engine
# ---------------------------------------------------------------------------------------------------------

def _is_product_call(node) -> bool:
    """A ``call`` node that is a product, ``a (b + c)`` (the callee is no density, function or \\mathcal{N})."""
    if not (isinstance(node, Tree) and node.data == "call"):
        return False
    callee = node.children[0]
    if isinstance(callee, Tree) and callee.data in ("normal", "prime"):
        return False
    letter, subs = _callee_parts(callee)
    if letter is None:
        return True
    return not (letter in DENSITY_LETTERS or letter in FUNCTION_LETTERS or (subs and letter in ("mu", "sigma")))


class KL(sp.Function):
    r"""$\mathrm{KL}(P \,\|\, Q)$ of two densities of ``var``: ``KL(P, Q, var)``; :meth:`expectation` is
    $\mathbb{E}_P[\log P - \log Q]$ (nats)."""

    nargs = 3

    def expectation(self) -> sp.Expr:
        P, Q, var = self.args
        return Expect(sp.log(P) - sp.log(Q), var, P)

    def _eval_is_real(self):
        return True

    def _latex(self, printer):
        P, Q, _ = self.args
        return r"\mathrm{KL}\left(%s \,\|\, %s\right)" % (printer._print(P), printer._print(Q))


def expand_kl(expr: sp.Basic) -> sp.Basic:
    r"""Every :class:`KL` node replaced by its expectation $\mathbb{E}_P[\log P - \log Q]$."""
    if not expr.has(KL):
        return expr
    return expr.replace(lambda e: isinstance(e, KL), lambda e: e.expectation())


# ---------------------------------------------------------------------------------------------------------
# Tree -> SymPy
# ---------------------------------------------------------------------------------------------------------

_PARTIAL = sp.Symbol("__partial__")


@dataclass
class _Marker:
    """Operators read in a product and applied to what follows: d/dv, and the d of an integral."""

    kind: str
    var: object = None


@dataclass
class Reader:
    r"""Reads lines of one derivation with one symbol table (so ``\sigma`` is the same symbol on every line).

    Args:
        assume: symbol name -> SymPy assumptions (``{"sigma": {"positive": True}}``), from ``% assume:`` lines.
        names: the named quantities of an identity, literal LaTeX -> SymPy object, e.g.
            ``{r"\mathcal{L}(q)": ELBO, r"m_\star": M_STAR}``: wherever the literal is written (exactly, as a
            whole), the line holds that object.  This is how a line writes a quantity the identity defines
            (its ``definitions`` give the engine its meaning) instead of spelling the definition out.
        symbols: SymPy symbols the lines must share with the identity's expressions: a letter the reader
            would make ``Symbol(name, real=True)`` is this symbol instead when the names agree (``v`` ->
            the identity's positive ``v``).
    Attributes:
        densities: ``(letter, name, params, n_vars, n_cond)`` -> list of applications seen (to resolve bare
            ``KL(q \| p)`` letters and to build the model's rules).
    """

    assume: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    symbols: dict = field(default_factory=dict)
    densities: dict = field(default_factory=dict)

    def _name_table(self) -> tuple:
        keys = sorted(self.names, key=len, reverse=True)
        self._named = {_NAMED.format(i): self.names[k] for i, k in enumerate(keys)}
        return tuple(enumerate(keys))

    # -- symbols -------------------------------------------------------------------------------------------
    def symbol(self, name: str, bound: dict | None = None):
        if bound and name in bound:
            return bound[name]
        if name == "pi":
            return sp.pi  # pi(z) as a density is read from the letter, before this
        if name in self.symbols:
            return self.symbols[name]
        opts = self.assume.get(name)
        if opts is None:
            if name in SIZE_LETTERS:
                opts = {"integer": True, "positive": True}
            else:
                opts = {"real": True}
        return sp.Symbol(name, **opts)

    # -- entry points --------------------------------------------------------------------------------------
    def read(self, text: str, keep_kl: bool = True):
        tree = parse_tree(text, self._name_table() if self.names else ())
        self._text = text
        if tree.data == "relation":
            lhs, rel, rhs = tree.children
            return (self.conv(lhs, {}), str(rel), self.conv(rhs, {}))
        return self.conv(tree.children[0], {})

    def err(self, node, msg):
        tok = _first_token(node)
        col = tok.column if tok is not None else None
        shown = _shown(tok) if tok is not None else None
        raise LatexReadError(f"unreadable at column {col}: {msg}" + (f" (at '{shown}')" if tok else ""), col,
                             shown, getattr(self, "_text", ""))

    # -- the conversion ------------------------------------------------------------------------------------
    def conv(self, node, bound: dict):
        if isinstance(node, Token):
            return self.token(node, bound)
        h = getattr(self, "t_" + node.data, None)
        if h is None:
            self.err(node, f"construct {node.data!r} not supported")
        return h(node, bound)

    def token(self, tok, bound):
        if tok.type in ("LETTER", "GREEK"):
            return self.symbol(str(tok.value), bound)
        if tok.type == "NUMBER":
            return sp.Rational(str(tok.value))
        raise LatexReadError(f"unreadable at column {tok.column}: unexpected {tok.value!r}", tok.column,
                             str(tok.value), getattr(self, "_text", ""))

    def t_start(self, n, b):
        return self.conv(n.children[0], b)

    def t_add(self, n, b):
        return sp.Add(self.conv(n.children[0], b), self.conv(n.children[2], b))

    def t_minus(self, n, b):
        return sp.Add(self.conv(n.children[0], b), -self.conv(n.children[2], b))

    def t_neg(self, n, b):
        return -self.conv(n.children[-1], b)

    def t_term(self, n, b):  # unary plus
        return self.conv(n.children[-1], b)

    def t_letter(self, n, b):
        return self.symbol(str(n.children[0].value), b)

    def t_name(self, n, b):
        if n.children[0].value == "__euler__":
            return sp.E
        if str(n.children[0].value) in getattr(self, "_named", {}):
            return self._named[str(n.children[0].value)]
        return self.symbol(str(n.children[0].value), b)

    def t_number(self, n, b):
        return sp.Rational(str(n.children[0].value))

    def t_infty(self, n, b):
        return sp.oo

    def t_group(self, n, b):
        return self.conv(n.children[0], b)

    t_brace = t_group

    def t_abs(self, n, b):
        return sp.Abs(self.conv(n.children[1], b))

    def t_partial(self, n, b):
        return _PARTIAL

    def t_top(self, n, b):
        self.err(n, r"\top outside a superscript")

    def t_normal(self, n, b):
        self.err(n, r"\mathcal{N} needs its arguments, e.g. \mathcal{N}(z; \mu, \sigma^2)")

    def t_arg(self, n, b):
        return self.conv(n.children[0], b)

    def t_arg_rel(self, n, b):
        self.err(n, "a relation inside a subscript is read only as the bounds of a sum")

    def t_arg_sim(self, n, b):
        self.err(n, r"'\sim' is read only in the subscript of an expectation")

    def t_arg_to(self, n, b):
        self.err(n, r"'\to' is read only in the subscript of a limit, as in \lim_{\sigma \to 0}")

    def t_frac(self, n, b):
        num_node, den_node = n.children[1], n.children[2]
        num, den = self.conv(num_node, b), self.conv(den_node, b)
        if num == _PARTIAL or (isinstance(num, sp.Mul) and _PARTIAL in num.args) or num == _PARTIAL ** 2:
            dvar = self._partial_var(den, den_node)
            if num == _PARTIAL:
                return _Marker("diff", dvar)  # d/dv applied to what follows in the product
            return sp.Derivative(num / _PARTIAL, dvar)
        if den == 0:
            self.err(den_node, "division by zero")
        return num / den

    def _partial_var(self, den, node):
        if isinstance(den, sp.Mul) and _PARTIAL in den.args:
            rest = den / _PARTIAL
            if isinstance(rest, (sp.Symbol, sp.Indexed)):
                return rest
        self.err(node, r"a derivative's denominator must be \partial followed by one variable")

    def t_sqrt(self, n, b):
        return sp.sqrt(self.conv(n.children[1], b))

    def t_prime(self, n, b):
        inner = n.children[0]
        base = self.conv(inner, b)
        if isinstance(base, sp.Symbol) and base.name in FUNCTION_LETTERS:
            return ("prime", base.name, 1)
        if isinstance(base, tuple) and base[0] == "prime":
            return ("prime", base[1], base[2] + 1)
        self.err(n, "a prime is read only on a function letter, as in f'(z)")

    def t_sup(self, n, b):
        base_node, exp_node = n.children
        if _is_top(exp_node):
            return ("top", self.conv(base_node, b))
        label = _paren_label(exp_node)
        if label is not None:  # z^{(k)}: the k-th sample, a label like a subscript, not a power
            return self.t_sub(Tree("sub", [base_node, label]), b)
        if _is_product_call(base_node):  # \frac{1}{2} (\log x)^2, c (a + b)^2: the power is the bracket's only
            callee_node, arglist = base_node.children
            factor = self._as_factor(self._arglist(arglist, b), base_node)
            return self.conv(callee_node, b) * sp.Pow(factor, self.conv(exp_node, b))
        base = self.conv(base_node, b)
        if isinstance(base, (tuple, _Marker)):
            self.err(n, "a power of an operator")
        return sp.Pow(base, self.conv(exp_node, b))

    def t_sub(self, n, b):
        base_node, sub_node = n.children
        base = self.conv(base_node, b)
        if not isinstance(base, sp.Symbol):
            self.err(n, "a subscript on something that is not a letter")
        sub = self.conv(sub_node, b)
        bound_syms = set(bound_values(b))
        if sub.free_symbols & bound_syms:
            if base.name in self.symbols and base.name not in self.assume:  # the identity's w_k: its assumptions
                return sp.Indexed(sp.IndexedBase(self.symbols[base.name]), sub)
            opts = {k: v for k, v in self.assume.get(base.name, {"real": True}).items() if k != "integer"}
            return sp.Indexed(sp.IndexedBase(base.name, **opts), sub)
        return self.symbol(f"{base.name}_{_sub_name(sub)}", b)

    # -- products: juxtaposition, operators applied to what follows ----------------------------------------
    def t_product(self, n, b):
        items, div = [], False
        for c in n.children:
            if isinstance(c, Token) and c.type == "MULOP":
                continue
            if isinstance(c, Token) and c.type == "DIV":
                div = True
                continue
            items.append(Tree("inverse", [c]) if div else c)
            div = False
        return self._product(items, b)

    def t_inverse(self, n, b):
        v = self.conv(n.children[0], b)
        if not isinstance(v, sp.Basic):
            self.err(n, "a quotient by an operator")
        return 1 / v

    def _product(self, items, b):
        vals = []
        for k, it in enumerate(items):
            v = self.conv(it, b)
            if isinstance(v, _Marker) and v.kind == "diff":
                rest = self._product(items[k + 1:], b) if k + 1 < len(items) else None
                if rest is None:
                    self.err(it, "a derivative operator with nothing to act on")
                vals.append(sp.Derivative(rest, v.var))
                break
            vals.append(v)
        out = []
        k = 0
        while k < len(vals):  # a^\top b -> dot(a, b)
            v = vals[k]
            if isinstance(v, tuple) and v[0] == "top":
                if k + 1 >= len(vals):
                    self.err(items[k], r"a^\top must be followed by the vector it multiplies")
                out.append(sp.Function("dot", real=True)(v[1], vals[k + 1]))
                k += 2
                continue
            if isinstance(v, tuple):
                self.err(items[k], "an operator without its argument")
            out.append(v)
            k += 1
        if len(out) == 1:
            return out[0]
        if any(isinstance(v, (_Normal, _Marker)) for v in out):
            self.err(items[0], r"\mathcal{N}(\mu, \sigma^2) without its variable inside a product")
        return sp.Mul(*out)

    def _greedy(self, prod_node, b):
        """The argument of \\log, \\exp, \\mathbb{E}, \\sum, \\int written without parentheses: the product that
        follows; if it starts with a bracketed group and more factors follow, only the group (``\\log(a) b``)."""
        items = [c for c in prod_node.children if not (isinstance(c, Token) and c.type == "MULOP")]
        if len(items) > 1 and isinstance(items[0], Tree) and items[0].data == "group":
            return self.conv(items[0], b), items[1:]
        return self._product(items, b), []

    def _apply_rest(self, head, rest, b):
        return head * self._product(rest, b) if rest else head

    def t_func(self, n, b):
        name = str(n.children[0].value)
        arg, rest = self._greedy(n.children[1], b)
        fn = {"log": sp.log, "ln": sp.log, "exp": sp.exp, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh}.get(name)
        if fn is None:  # det, tr, diag: opaque real functions
            fn = sp.Function(name, real=True)
        return self._apply_rest(fn(arg), rest, b)

    def t_nabla(self, n, b):
        _, sub, prod = n.children
        var = self.conv(sub, b)
        if not isinstance(var, (sp.Symbol, sp.Indexed)):
            self.err(sub, r"\nabla's subscript must be one variable")
        body, rest = self._greedy(prod, b)
        return self._apply_rest(sp.Derivative(body, var), rest, b)

    def t_sum(self, n, b):
        if len(n.children) != 4:
            self.err(n, r"write the bounds of a sum, as in \sum_{n=1}^{N}")
        _, lo_node, hi_node, prod = n.children
        if not (isinstance(lo_node, Tree) and lo_node.data == "arg_rel"):
            self.err(lo_node, r"write the bounds of a sum, as in \sum_{n=1}^{N}")
        idx_node, rel, lo_expr = lo_node.children
        if str(rel) != "=":
            self.err(lo_node, r"a sum's lower bound is written n=1")
        idx_name = _letter_name(idx_node)
        if idx_name is None:
            self.err(idx_node, "a sum's index must be one letter")
        lo, hi = self.conv(lo_expr, b), self.conv(hi_node, b)
        idx = self._index_symbol(idx_name, lo)
        inner = {**b, idx_name: idx}
        body, rest = self._greedy(prod, inner)
        return self._apply_rest(sp.Sum(body, (idx, lo, hi)), rest, b)

    def _index_symbol(self, name: str, lo) -> sp.Symbol:
        r"""A sum's index: the identity's integer symbol of that name where the symbol table or a named quantity
        holds it (the ``i`` of a named ``p(x_i \mid z)``, so rules keyed ``A_i`` apply) -- when its assumptions
        hold from the lower bound ``lo`` on (a positive k is not the index of a sum from 0) -- else a new integer."""
        own = [self.symbols.get(name)] + [s for v in self.names.values() if isinstance(v, sp.Basic)
                                          for s in v.free_symbols if isinstance(s, sp.Symbol) and s.name == name]
        for s in own:
            if isinstance(s, sp.Symbol) and s.is_integer and (
                    (not s.is_nonnegative or sp.sympify(lo >= 0) is sp.true)
                    and (not s.is_positive or sp.sympify(lo > 0) is sp.true)):
                return s
        return sp.Symbol(name, integer=True)

    def t_integral(self, n, b):
        ch = n.children
        if len(ch) == 4:
            _, lo_node, hi_node, prod = ch
            lo, hi = self.conv(lo_node, b), self.conv(hi_node, b)
        else:
            _, prod = ch
            lo, hi = -sp.oo, sp.oo
        prod, var_name = _strip_differential(prod)
        if prod is None:
            self.err(n, r"an integral must end with its differential, as in \int f(z) \, dz")
        var = self.symbol(var_name, b)
        inner = {k: v for k, v in b.items() if k != var_name}
        body = self.conv(prod, inner)
        return sp.Integral(body, (var, lo, hi))

    def t_limit(self, n, b):
        _, sub, prod = n.children
        if not (isinstance(sub, Tree) and sub.data == "arg_to"):
            self.err(sub, r"write the variable and the point of a limit, as in \lim_{\sigma \to 0}")
        v_node, _, pt_node = sub.children
        var = self.conv(v_node, b)
        if not isinstance(var, sp.Symbol):
            self.err(v_node, "a limit's variable must be one letter")
        point = self.conv(pt_node, b)
        body, rest = self._greedy(prod, b)
        return self._apply_rest(sp.Limit(body, var, point), rest, b)

    def t_expect(self, n, b):
        ch = n.children
        if len(ch) == 2:
            self.err(n, r"write the density of an expectation, as in \mathbb{E}_{q(z \mid x)}[\cdots]")
        _, sub, prod = ch
        var, dens = self._expect_measure(sub, b)
        body, rest = self._greedy(prod, b)
        return self._apply_rest(Expect(body, var, dens), rest, b)

    def _expect_measure(self, sub, b):
        if isinstance(sub, Tree) and sub.data == "arg_sim":
            v_node, _, d_node = sub.children
            var = self.conv(v_node, b)
            dens = self.conv(d_node, b)
            if isinstance(dens, _Normal):
                dens = NormalPDF(var, dens.mean, dens.var)
            return var, dens
        dens = self.conv(sub, b)
        if isinstance(dens, _Normal):
            self.err(sub, r"write \mathbb{E}_{z \sim \mathcal{N}(\mu, \sigma^2)} or \mathbb{E}_{\mathcal{N}(z; \mu, "
                          r"\sigma^2)}")
        if isinstance(dens, sp.Symbol) and dens.name.split("_")[0] in DENSITY_LETTERS:
            dens = self._resolve_bare(dens.name, sub)  # E_q[...], E_{q_\phi}[...]
        var = _density_var(dens)
        if var is None:
            self.err(sub, "the subscript of an expectation must be a density such as q(z \\mid x)")
        from derivations.expectation import DENSITY_VARS

        if DENSITY_VARS.get(getattr(dens, "func", type(dens)).__name__, 1) > 1:
            self.err(sub, "an expectation under a density of several variables (such as p(x, z)) is not read yet; "
                          "write it as nested expectations")
        return var, dens

    def t_kl(self, n, b):
        P, Q = self.conv(n.children[1], b), self.conv(n.children[3], b)
        bare_p, bare_q = _is_bare(P), _is_bare(Q)
        if bare_p and not bare_q:  # KL(q || p(z)): the q of the variable z
            P = self._resolve_bare(P.name, n.children[1], var=_density_var(Q))
        elif bare_q and not bare_p:
            Q = self._resolve_bare(Q.name, n.children[3], var=_density_var(P))
        elif bare_p and bare_q:  # KL(q || p): both of one variable, each the only one of its letter there
            P = self._resolve_bare(P.name, n.children[1])
            Q = self._resolve_bare(Q.name, n.children[3], var=_density_var(P))
        if isinstance(P, _Normal) or isinstance(Q, _Normal):
            var = _density_var(Q) if not isinstance(Q, _Normal) else _density_var(P) if not isinstance(P, _Normal) \
                else sp.Symbol("z", real=True)
            P = NormalPDF(var, P.mean, P.var) if isinstance(P, _Normal) else P
            Q = NormalPDF(var, Q.mean, Q.var) if isinstance(Q, _Normal) else Q
        vp, vq = _density_var(P), _density_var(Q)
        if vp is None or vq is None:
            self.err(n, r"the arguments of a KL must be densities, as in \mathrm{KL}(q(z) \,\|\, p(z))")
        if vp != vq:
            self.err(n, f"the two densities of a KL must be of the same variable (here {vp} and {vq})")
        return KL(P, Q, vp)

    def _resolve_bare(self, name, node, var=None):
        """A bare density letter (``KL(q \\| p)``): the one density of that letter the derivation applies."""
        head, _, sub = name.partition("_")
        key = name if name in self.densities or sub not in PARAM_LETTERS else head  # q_phi: the letter q
        cands = [c for c in self.densities.get(key, []) if not sub or sub not in PARAM_LETTERS
                 or sp.Symbol(sub, real=True) in c.args]
        if var is not None:
            cands = [c for c in cands if _density_var(c) == var]
        if len(cands) == 1:
            return cands[0]
        if not cands:
            self.err(node, f"write the density {name} with its variable, e.g. {name}(z)")
        self.err(node, f"the bare letter {name} could mean {', '.join(sp.sstr(c) for c in cands)}; write its "
                       f"arguments")

    # -- applications: densities, functions, N(z; mu, v) ---------------------------------------------------
    def t_call(self, n, b):
        callee_node, arglist = n.children
        groups = self._arglist(arglist, b)
        if isinstance(callee_node, Tree) and callee_node.data == "normal":
            return self._normal(groups, n)
        if isinstance(callee_node, Tree) and callee_node.data == "prime":
            f = self.conv(callee_node, b)
            args = groups[0][0]
            fn = sp.Function(f[1], real=True)
            dummy = sp.Dummy("t", real=True)
            return sp.Subs(sp.Derivative(fn(dummy), (dummy, f[2])), dummy, args[0]) if len(args) == 1 else \
                self.err(n, "f'(...) of several arguments")
        letter, subs = _callee_parts(callee_node)
        if letter is None:  # (a + b)(c + d), 2(x + 1): a product
            return self.conv(callee_node, b) * self._as_factor(groups, n)
        if letter in DENSITY_LETTERS:
            return self._density(letter, subs, groups, n, b)
        if letter in FUNCTION_LETTERS or (subs and letter in ("mu", "sigma")):
            if len(groups) > 1 or any(len(g) > 1 for g in groups[0][1:]):
                self.err(n, f"the function {letter} is applied with a bar; only densities are conditioned")
            args = groups[0][0]
            name = letter + "".join("_" + _sub_name(self.conv(s, b)) for s in subs)
            return sp.Function(name, real=True)(*args)
        return self.conv(callee_node, b) * self._as_factor(groups, n)

    def _as_factor(self, groups, n):
        if len(groups) == 1 and len(groups[0]) == 1 and len(groups[0][0]) == 1:
            return groups[0][0][0]
        self.err(n, "a list in parentheses after a symbol that is not a function")

    def _arglist(self, node, b):
        """[[args before ';'], [after ';']...] before the bar, and the same after it: list of sections."""
        out = []
        for args in [c for c in node.children if isinstance(c, Tree)]:
            sections, cur = [], []
            for c in args.children:
                if isinstance(c, Token) and c.type == "SEMI":
                    sections.append(cur)
                    cur = []
                elif isinstance(c, Token) and c.type == "COMMA":
                    continue
                else:
                    cur.append(self.conv(c, b))
            sections.append(cur)
            out.append(sections)
        return out

    def _normal(self, groups, n):
        secs = groups[0]
        if len(groups) == 2:  # N(z | mu, v)
            if len(groups[0]) != 1 or len(groups[0][0]) != 1 or len(groups[1][0]) != 2:
                self.err(n, r"\mathcal{N}(z \mid \mu, \sigma^2) takes a variable, a mean and a variance")
            return NormalPDF(groups[0][0][0], *groups[1][0])
        if len(secs) == 2 and len(secs[0]) == 1 and len(secs[1]) == 2:
            return NormalPDF(secs[0][0], *secs[1])
        if len(secs) == 1 and len(secs[0]) == 2:
            return _Normal(*secs[0])
        self.err(n, r"\mathcal{N} is written \mathcal{N}(z; \mu, \sigma^2) or \mathcal{N}(\mu, \sigma^2)")

    def _density(self, letter, subs, groups, n, b):
        params, suffix = [], []
        for s in subs:
            sv = self.conv(s, b)
            if isinstance(sv, sp.Symbol) and sv.name in PARAM_LETTERS:
                params.append(sv)
            else:
                suffix.append(_sub_name(sv))
        vars_ = groups[0][0]
        extra = [a for sec in groups[0][1:] for a in sec]  # p(x; theta): parameters after a semicolon
        cond = [a for sec in groups[1] for a in sec] if len(groups) > 1 else []
        cond = cond + extra + params
        if not vars_:
            self.err(n, f"the density {letter} needs its variable")
        bases = tuple(_base_name(v) for v in vars_)
        cbases = tuple(_base_name(v) for v in cond[:len(cond) - len(extra) - len(params)])
        name = letter + ("_" + "_".join(suffix) if suffix else "")
        app = None
        if name == "p" and set(bases) | set(cbases) <= {"x", "z"}:
            xs = {bb: v for bb, v in zip(bases, vars_)}
            xs.update({bb: v for bb, v in zip(cbases, cond)})
            rest = cond[len(cbases):]
            if sorted(bases) == ["x", "z"] and not cbases:
                app = notation.joint(xs["x"], xs["z"], *rest)
            elif bases == ("z",) and cbases == ("x",):
                app = notation.post(xs["z"], xs["x"], *rest)
            elif bases == ("x",) and cbases == ("z",):
                app = notation.lik(xs["x"], xs["z"], *rest)
            elif bases == ("z",) and not cbases:
                app = notation.prior(xs["z"], *rest)
            elif bases == ("x",) and not cbases:
                app = notation.evid(xs["x"], *rest)
        if app is None and name == "q" and len(vars_) == 1:
            app = notation.q(*vars_, *cond)
        if app is None:
            sig = ",".join(bases) + ("|" + ",".join(_base_name(c) for c in cond) if cond else "")
            fname = f"{name}[{sig}]"
            latex_letter = {"pi": r"\pi"}.get(letter, letter)
            if suffix:
                latex_letter += r"_{\mathrm{%s}}" % "".join(suffix)
            app = _density_fn(fname, len(vars_), latex_letter)(*vars_, *cond)
        key = letter + ("_" + "_".join(suffix) if suffix else "")
        self.densities.setdefault(key, [])
        if app not in self.densities[key]:
            self.densities[key].append(app)
        return app


@dataclass(frozen=True)
class _Normal:
    """``\\mathcal{N}(\\mu, \\sigma^2)`` without its variable (given by an expectation's ``z \\sim``, or a KL)."""

    mean: object
    var: object


_DENSITY_FNS: dict = {}


def _density_fn(name, n_vars, letter):
    if name not in _DENSITY_FNS:
        _DENSITY_FNS[name] = density(name, n_vars=n_vars, symbol=letter)
    return _DENSITY_FNS[name]


def bound_values(b: dict):
    return list(b.values())


def _is_top(node) -> bool:
    if isinstance(node, Tree) and node.data in ("arg", "top"):
        return node.data == "top" or _is_top(node.children[0])
    return False


def _paren_label(node):
    """The ``k`` of a superscript ``{(k)}``, else None."""
    while isinstance(node, Tree) and node.data in ("arg", "brace", "product") and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, Tree) and node.data == "group" and len(node.children) == 1:
        return node.children[0]
    return None


def _is_bare(v) -> bool:
    """A density letter without its arguments: ``q``, ``p``, ``q_\\phi``."""
    return isinstance(v, sp.Symbol) and v.name.split("_")[0] in DENSITY_LETTERS


def _first_token(node):
    if isinstance(node, Token):
        return node
    for c in getattr(node, "children", []):
        t = _first_token(c)
        if t is not None:
            return t
    return None


def _letter_name(node):
    while isinstance(node, Tree) and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, Token) and node.type in ("LETTER", "GREEK"):
        return str(node.value)
    return None


def _callee_parts(node):
    """``(letter, [subscript nodes])`` of ``p``, ``p_\\theta``, ``q_{\\mathrm{agg}}``; (None, []) otherwise."""
    subs = []
    while isinstance(node, Tree) and node.data == "sub":
        subs.insert(0, node.children[1])
        node = node.children[0]
    name = _letter_name(node)
    return name, subs


def _sub_name(sub) -> str:
    if isinstance(sub, sp.Symbol):
        return sub.name
    if isinstance(sub, sp.Indexed):
        return sp.sstr(sub)
    return sp.sstr(sub).replace(" ", "")


def _base_name(v) -> str:
    if isinstance(v, sp.Indexed):
        return str(v.base.label)
    if isinstance(v, sp.Symbol):
        return v.name.split("_")[0]
    return sp.sstr(v)


def _density_var(d):
    """The variable of an applied density (its first argument) or ``NormalPDF``; None for anything else."""
    if isinstance(d, NormalPDF):
        return d.args[0]
    from sympy.core.function import AppliedUndef

    if isinstance(d, AppliedUndef) and d.args and isinstance(d.args[0], (sp.Symbol, sp.Indexed, sp.IndexedBase)):
        return d.args[0]
    return None


def _strip_differential(prod):
    """Remove the trailing ``d z`` of an integral's product (also inside a trailing ``\\log ...``).

    Returns ``(product without it, "z")`` or ``(None, None)``."""
    if not (isinstance(prod, Tree) and prod.data == "product"):
        return None, None
    items = [c for c in prod.children if not (isinstance(c, Token) and c.type == "MULOP")]
    if len(items) >= 3:
        d, v = items[-2], items[-1]
        if _letter_name(d) == "d" and _letter_name(v) is not None:
            return Tree("product", items[:-2]), _letter_name(v)
    last = items[-1] if items else None
    if isinstance(last, Tree) and last.data in ("func", "expect", "nabla", "sum"):
        inner, name = _strip_differential(last.children[-1])
        if inner is not None and inner.children:
            new_last = Tree(last.data, last.children[:-1] + [inner])
            return Tree("product", items[:-1] + [new_last]), name
    return None, None


# ---------------------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------------------

def read_latex(text: str, assume: dict | None = None, keep_kl: bool = False, reader: Reader | None = None):
    r"""One expression of the course's LaTeX as SymPy (engine objects).

    Args:
        text: one expression, e.g. ``r"\log p(x) - \mathrm{KL}(q(z) \,\|\, p(z \mid x))"``.
        assume: symbol name -> SymPy assumptions (``{"sigma": {"positive": True}}``).
        keep_kl: keep :class:`KL` nodes (default: expanded to :math:`\mathbb{E}_P[\log P - \log Q]`).
        reader: a :class:`Reader` shared by the lines of one derivation.
    Raises:
        LatexReadError: the column and the token where the line stops being readable.
    """
    r = reader or Reader(assume=dict(assume or {}))
    out = r.read(text)
    if isinstance(out, tuple):
        raise LatexReadError("unreadable: a relation where one expression was expected (use read_relation)",
                             None, None, text)
    return out if keep_kl else expand_kl(out)


def read_relation(text: str, assume: dict | None = None, reader: Reader | None = None):
    r"""``(lhs, rel, rhs)`` of a relation such as ``\sigma > 0`` or ``a \ge b`` (``rel`` one of ``= >= <= > < !=``)."""
    r = reader or Reader(assume=dict(assume or {}))
    out = r.read(text)
    if not isinstance(out, tuple):
        raise LatexReadError(f"unreadable: expected a relation such as '\\sigma > 0', got {text!r}", None, None, text)
    return out
