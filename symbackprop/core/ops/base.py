"""What the registry knows of an activation, and how its kernels are loaded and exported.

An :class:`Activation` holds every rule of one elementwise activation: its SymPy function
(whose ``fdiff`` is the derivative in textbook form), its LaTeX, the catalog message that names
it, its definition in elementary functions, its value at a float, and one kernel per array
library. A kernel is a class of plain functions written against the library's module name
(``numpy``, ``torch``, ``jax``, ``jnp``). The evaluators call those functions with the name
bound to the library; the exported modules carry their source. So the code a user exports is the
code the engine tested.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import re
import textwrap
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy as sp

from ..errors import UnavailableError

__all__ = ["Activation", "ActivationFunction", "DerivativeSteps", "N_", "TARGETS", "print_operator",
           "torch", "jax", "jnp", "scipy"]

#: The array libraries a kernel is written for (and exported to); a kernel for "scipy" is a
#: faster numpy one through scipy's fused functions, used where scipy is installed.
TARGETS = ("numpy", "torch", "jax")


class _Unbound:
    """A library's name in a kernel before the kernel is loaded for that library: the kernels
    of optional libraries name them without importing them."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        if attribute.startswith("__"):  # introspection (doctest's finder, copy) finds nothing
            raise AttributeError(attribute)
        raise UnavailableError(f"{self._name} is not bound: load the kernel for its library first")


torch, jax, jnp, scipy = _Unbound("torch"), _Unbound("jax"), _Unbound("jax.numpy"), _Unbound("scipy")
#: The modules a kernel of each library sees under each name.
_MODULES = {"numpy": {"numpy": "numpy"}, "scipy": {"numpy": "numpy"}, "torch": {"torch": "torch"},
            "jax": {"jax": "jax", "jnp": "jax.numpy"}}


class ActivationFunction(sp.Function):
    """An activation as a SymPy function: real, computed in floats and rewritten through its
    registry entry's elementary definition, printed with the entry's LaTeX. A subclass writes
    only what is its own: ``fdiff`` (the derivative in textbook form) and, where it has one,
    ``eval``. Without an ``fdiff`` the derivative is SymPy's, of the elementary definition (a
    derivative entry's, GELU′'s, which the notes never differentiate again). ``entry`` is set
    when the entry naming it is made."""

    is_real = True
    entry: Activation

    def fdiff(self, argindex=1):
        x = sp.Dummy("x", real=True)
        arguments = [x if k == argindex - 1 else a for k, a in enumerate(self.args)]
        return sp.diff(self.entry.elementary(*arguments), x).xreplace({x: self.args[argindex - 1]})

    def _eval_evalf(self, prec):
        return self.entry.elementary(*self.args)._eval_evalf(prec)

    def _eval_rewrite(self, rule, args, **hints):
        # f.rewrite(sp.exp), f.rewrite(sp.Max), …: the definition, where it is written in those
        written = self.entry.elementary(*args)
        return written if isinstance(rule, type) and written.has(rule) else None

    def _latex(self, printer, exp=None):
        return print_operator(self.entry.latex, printer, self.args, exp)


@dataclass(frozen=True)
class DerivativeSteps:
    """How a lecturer derives an activation's textbook derivative, for the notes' appendix.

    Each step is an expression, which the document verifies against the derivative of
    ``definition`` before printing, and the LaTeX a lecturer writes for it. The paragraphs are
    catalog macros (templates/_prose.j2) with LaTeX arguments.
    """

    section: str
    label: str
    lhs: str
    definition: sp.Expr
    steps: tuple[tuple[sp.Expr, str], ...]
    before: tuple[str, Mapping[str, str]]
    after: tuple[str, Mapping[str, str]] | None = None


@dataclass(frozen=True, eq=False)
class Activation:
    """One elementwise activation, every rule of it in one place.

    >>> from symbackprop.core.ops import activation_op
    >>> op = activation_op("silu")
    >>> x = sp.Symbol("x")
    >>> op(x), op.elementary(x), op.scalar(0.0)
    (silu(x), x/(1 + exp(-x)), 0.0)
    """

    #: how specs, the command line and the builders name it
    name: str
    #: the SymPy function (or, for the identity, a plain callable)
    function: Callable[..., sp.Expr]
    #: the LaTeX of its name as printed before the parenthesised argument, and read back by lint
    latex: str | None
    #: the catalog message (msgid) that names it in a sentence of the documents
    prose: str
    #: its definition in elementary functions (the verifier's meaning of it)
    elementary: Callable[..., sp.Expr]
    #: its value at floats (the verifier's points, the spec reader's constants)
    scalar: Callable[..., float]
    #: array library -> class of its kernel's functions (``name``; ``name_into``, in place)
    kernels: Mapping[str, type] = field(default_factory=dict)
    #: arguments after the first, as applied by name (leaky ReLU's slope)
    defaults: tuple[sp.Expr, ...] = ()
    #: its derivative jumps somewhere (finite differences must not step across)
    kinked: bool = False
    #: the derivation of its derivative, step by step, for the appendix (x -> steps), if any
    derivation: Callable[[sp.Symbol], DerivativeSteps] | None = None
    #: the entry that computes its derivative from the argument where the textbook form, in the
    #: activation's own value, rounds away: σ(40)(1 − σ(40)) is 0, σ(40)σ(−40) is 4.2e-18
    prime: Activation | None = None

    def __post_init__(self) -> None:
        if isinstance(self.function, type) and issubclass(self.function, ActivationFunction):
            self.function.entry = self

    def __call__(self, x: sp.Expr, *args: sp.Expr) -> sp.Expr:
        return self.function(x, *(args or self.defaults))

    def kernel(self, target: str) -> type:
        """The class of this activation's kernel functions for ``target`` (numpy, torch, jax)."""
        try:
            return self.kernels[target]
        except KeyError:
            raise UnavailableError(f"{self.name} has no {target} kernel") from None

    def source(self, target: str) -> str:
        """The kernel's functions as module-level source (what an exported module carries)."""
        kernel = self.kernel(target)
        parts = [_NOQA.sub("", textwrap.dedent(inspect.getsource(f))).rstrip()
                 for f in _functions(kernel)]
        return "\n\n\n".join([*getattr(kernel, "imports", ()), *parts])

    def load(self, target: str, module: object | None = None) -> dict[str, Callable]:
        """The kernel's functions with its library's names bound (``module``: another library
        that speaks numpy's language, such as cupy, in numpy's place)."""
        return dict(_load(self.name, self.kernel(target), target, module))


_NOQA = re.compile(r"  # noqa[^\n]*")


def _functions(kernel: type) -> list[types.FunctionType]:
    return [f for f in vars(kernel).values() if isinstance(f, types.FunctionType)]


@functools.cache
def _load(name: str, kernel: type, target: str, module: object | None) -> tuple[tuple[str, Callable], ...]:
    functions = _functions(kernel)
    scope = dict(functions[0].__globals__)
    try:
        for alias, path in _MODULES[target].items():
            scope[alias] = importlib.import_module(path)
        for line in getattr(kernel, "imports", ()):  # "import scipy.special" binds scipy
            path = line.split()[1]
            importlib.import_module(path)
            scope[path.split(".")[0]] = importlib.import_module(path.split(".")[0])
    except ImportError as e:  # scipy for numpy's erf: refused where it is used, in one line
        library = (e.name or "a library").split(".")[0]
        raise UnavailableError(f"{name} on {target} needs {library}, which is not installed "
                               f"(pip install {library})") from None
    if module is not None:
        scope["numpy"] = _NumpyLike(module)
    # the same code, with the library's names bound: no text is compiled or run
    loaded = [(f.__name__, types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__))
              for f in functions]
    scope.update(loaded)
    return tuple(loaded)


class _NumpyLike:
    """A numpy-like module (cupy) as numpy's kernels see it: numpy.errstate, which only silences
    numpy's warnings, is a no-op where the module has none."""

    def __init__(self, module: object) -> None:
        self._module = module

    def __getattr__(self, name: str) -> object:
        if name == "errstate" and not hasattr(self._module, name):
            return lambda **_: contextlib.nullcontext()
        return getattr(self._module, name)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs (pybabel extracts it); the templates translate it."""
    return message


def print_operator(latex: str, printer, args, exp=None) -> str:
    r"""``\operatorname{GELU}\left(z\right)``, with a power's exponent after it."""
    body = rf"{latex}\left({', '.join(printer._print(a) for a in args)}\right)"
    return body if exp is None else rf"{body}^{{{exp}}}"
