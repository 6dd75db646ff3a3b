"""Batched evaluators generated from a general form's own (verified) equations.

At given sizes, every forward definition and every printed δ and gradient equation becomes
one line of array code: each index (free or summed) owns an axis, an entry such as
x[t, i+k−1] is a gather with constant index arrays (zero outside its range, as the general
form assumes), and Σ_k is a sum over k's axis. A definition or δ that refers to itself at a
shifted index (h[t−1] in the forward pass, δ[t+1] in BPTT) is evaluated step by step along
that index, in the direction the shift demands (codegen/recurrence.py: unrolled on numpy and
torch, one loop on jax); everything else is one vectorised line. Each index's axis follows
the stored arrays' own order (in the same order whatever the hash seed), so that reading one
is a reshape, not a transpose. Samples run along a leading batch axis; parameter gradients
are averaged over the batch (a gradient's Σ_t and the batch mean are one matrix product).
float32 arrays in compute in float32; float64 is the default.

>>> import numpy as np
>>> from symbackprop.forms.models import conv1d_form
>>> ev = BatchedEvaluator(conv1d_form("tanh"), {"n": 5, "K": 3})
>>> rng = np.random.default_rng(0)
>>> out = ev({"x": rng.normal(size=(4, 5)), "y": rng.normal(size=4)},
...          {"w": rng.normal(size=3), "b": 0.1, "v": rng.normal(size=3), "c": 0.0})
>>> out.gradients["w"].shape, out.loss.shape
((3,), (4,))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ..core import ops
from ..core.indexed import Quantity, as_basic
from ..printing.display import batched_evaluator_markdown
from . import lowering
from .array_namespaces import backend_namespace, float64_context, is_float32
from .guard import assert_engine_made
from .jitted import JaxCall
from .lowering import as_view, axis_order, batch_summed, contraction, gathered_in_order, joined, permuted
from .named import one_sample
from .recurrence import Recurrences
from .results import BatchedResult, Gradients
from .softmax import ClassMax, stable_softmax

if TYPE_CHECKING:  # the evaluator runs a general form; the form builds it
    from ..forms.general import GeneralForm

__all__ = ["BatchedEvaluator", "BatchedResult"]


# Elementary functions by their backend's name; an activation is called by its registry name
# (its kernel's), with its further arguments (leaky ReLU's slope) as numbers.
_STEP_FUNCTION = re.compile(r"_step\d+")
_CALLS = {sp.exp: "xp.exp", sp.Heaviside: "heaviside", sp.log: "xp.log", sp.erf: "erf"}


class BatchedEvaluator(Recurrences):
    """Forward pass, named δs and gradients of ``form`` at ``sizes``, for a batch at once.

    Call it with ``inputs`` (inputs and targets: arrays with a leading batch axis, then the
    quantity's own index ranges) and ``parameters`` (arrays of their index ranges). Its Σs of
    products run as matrix products (``lower=False``: as outer products summed along their
    axes, the plain reading of the equations that the lowered code is tested against). It
    computes in float32 when every array given is float32, in float64 otherwise. An input's
    gradient is computed when first read (``out.gradients["x"]``).
    """

    def __init__(self, form: GeneralForm, sizes: Mapping[str, int], backend: str = "numpy",
                 *, lower: bool = True):
        form.require(sizes)
        self.sizes = dict(sizes)
        self.form, self.backend, self.lower = form, backend, lower
        self.subs = {form.sizes[k]: int(v) for k, v in sizes.items()}
        self.qs, self.defs = stable_softmax(form)
        self.ranges = {n: [(int(as_basic(lo).xreplace(self.subs)),
                            int(as_basic(hi).xreplace(self.subs))) for lo, hi in q.ranges]
                       for n, q in self.qs.items()}
        self.equations = [eq for eq in form.equations() if eq.kind != "forward"]
        symbols: list[sp.Symbol] = []
        for expr in [*self.defs.values(), *(eq.rhs for eq in self.equations)]:
            symbols += [v for sm in sp.preorder_traversal(expr) if isinstance(sm, sp.Sum)
                        for v, *_ in sm.limits]  # not atoms(): a set, ordered by hash seed
        for q in self.qs.values():
            symbols += list(q.indices)
        self.axes = {v: k + 1 for k, v in enumerate(axis_order(list(dict.fromkeys(symbols)),
                                                                 self.qs.values(), self.ranges))}
        self.n = len(self.axes)
        self.consts: dict[str, object] = {}
        self._const_names: dict[tuple, str] = {}
        self._hoisted: list[str] = []
        self._index_values: dict[tuple, np.ndarray] = {}
        self.lines: list[str] = []
        # a Σ already computed (the same code) is reused: an unnamed δ substituted into several
        # equations (W^{[3]}δ^{[3]} in g^{[2]}, ∂L/∂γ^{[2]}, ∂L/∂β^{[2]}) is computed once
        self._memo: dict[str, str] | None = {}
        self._fold: sp.Sum | None = None
        self._cut = 0  # lines[:cut]: loss and parameter gradients; the rest: inputs' gradients
        self._generate()
        self.source = "".join(
            f"def {name}(A):\n" + "".join(f"    {ln}\n" for ln in lines) + "    return A\n"
            for name, lines in (("evaluate", self.lines[:self._cut]),
                                ("evaluate_inputs", self.lines[self._cut:])))
        self._code = compile(self.source, f"<batched {form.title}>", "exec")
        self._programs: dict[type, tuple[dict, object]] = {}  # by dtype: namespace, function
        self.namespace, self._run = self._program(np.float64)

    def _program(self, dtype: type) -> tuple[dict, object]:
        """The generated function in a namespace whose arrays and constants are ``dtype``:
        float32 inputs compute in float32 (a float64 mask would promote every product)."""
        if dtype not in self._programs:
            space = dict(backend_namespace(self.backend, dtype))
            tensor = space["tensor"]
            with float64_context(self.backend):
                space.update({k: tensor(v) for k, v in self.consts.items()})
            ops.require(self.source, self.backend, space)
            # C, X, Y and _step0 …: a scanned step's carry, slices, outputs and function (jax)
            assert_engine_made(self.source, {"def", "return", "None", "evaluate",
                                             "evaluate_inputs", "A", "C", "X",
                                             "Y", *space}, _STEP_FUNCTION,
                               attributes=True, identifier_strings=True)
            exec(self._code, space)  # noqa: S102 - code the engine wrote from its own equations
            self._programs[dtype] = space, space["evaluate"]
        return self._programs[dtype]

    def _repr_markdown_(self) -> str:
        return batched_evaluator_markdown(self)

    def __call__(self, inputs: Mapping[str, object], parameters: Mapping[str, object]
                 ) -> BatchedResult:
        if self.backend == "jax":
            return self._on_jax(inputs, parameters)
        with float64_context(self.backend):
            return self._call(inputs, parameters)

    def evaluate(self, values: Mapping[str, float]) -> BatchedResult:
        """One sample named as the scalar model at these sizes names it (``x[2]`` ... as
        ``GeneralForm.instance(sizes)`` gives them): its loss, and ``gradients`` by those
        names. What the Form protocol asks of every evaluator.

        >>> import symbackprop as sb
        >>> form = sb.general_form(sb.rnn(steps=2, inputs=1, hidden=1, outputs=1))
        >>> ev = form.evaluator({"T": 2, "n_x": 1, "n_h": 1, "n_y": 1})
        >>> graph, _ = form.instance({"T": 2, "n_x": 1, "n_h": 1, "n_y": 1})
        >>> r = ev.evaluate({s.name: 0.5 for s in graph.leaves})
        >>> sorted(r.gradients) == sorted(p.name for p in graph.parameters)
        True
        """
        return one_sample(self, values)

    def _listing(self) -> None:
        # what a call reads and returns, listed once: at batch 1 a call's own Python (not the
        # arrays' work) is what a jitted program is compared on
        if not hasattr(self, "_leaves"):
            self._leaves = [(name, q.kind == "parameter") for name, q in self.qs.items()
                            if q.kind in ("input", "target", "parameter")]
            self._batched = next(name for name, parameter in self._leaves if not parameter)
            grads = [(eq.name, f"grad_{eq.name}") for eq in self.equations
                     if eq.kind == "gradient"]
            self._grads = [g for g in grads if self.qs[g[0]].kind == "parameter"]
            self._input_grads = [g for g in grads if self.qs[g[0]].kind != "parameter"]

    def _on_jax(self, inputs, parameters) -> BatchedResult:
        if not hasattr(self, "_jax_call"):  # jit's own cache tells batches and dtypes apart
            self._listing()
            self._jax_call = JaxCall(self._program, self._leaves, self._batched,
                                     self.form.loss.name, self._grads,
                                     {g: n for n, g in self._input_grads},
                                     fusions=" = scan(_step" in self.source)
        return self._jax_call(inputs, parameters)

    def _call(self, inputs, parameters) -> BatchedResult:
        self._listing()
        given = {name: (parameters if parameter else inputs)[name]
                 for name, parameter in self._leaves}
        # float32 where every array given is float32 (numbers without a dtype do not count);
        # float64 otherwise, the default
        kinds = [g.dtype for g in given.values() if hasattr(g, "dtype")]
        dtype = np.float32 if kinds and all(is_float32(k) for k in kinds) else np.float64
        space, run = self._program(dtype)
        tensor = space["tensor"]
        A: dict[str, object] = {}
        for name, g in given.items():
            if not hasattr(g, "dtype") or (isinstance(g, np.ndarray) and g.dtype != dtype):
                g = np.asarray(g, dtype=dtype)
            A[name] = tensor(g) if isinstance(g, np.ndarray) else g
        A["_batch"] = int(A[self._batched].shape[0])
        A = run(A)
        # an input's gradient (∂L/∂x per sample) is computed when first read (results.py)
        later = {g: n for n, g in self._input_grads}
        gradients = Gradients({n: A[g] for n, g in self._grads}, tuple(later.values()),
                              lambda: {later[g]: a for g, a in
                                       space["evaluate_inputs"](A).items() if g in later})
        return BatchedResult(A[self.form.loss.name], gradients, A)

    # -- expressions to code -------------------------------------------------------------------
    def _const(self, value) -> str:
        # one name per distinct array, so that equal gathers print equal code (the Σ memo)
        key = (value.dtype.str, value.shape, value.tobytes())
        known = self._const_names.setdefault(key, f"_c{len(self.consts)}")
        self.consts[known] = value
        return known

    def _values(self, e: sp.Expr, grid) -> np.ndarray:
        # a grid holds ints and aranges along one axis each (shape and start say which): the
        # lowering asks for the same index values several times, and lambdify is the cost
        key = (e, tuple((v, g if isinstance(g, int) else (g.shape, int(g.flat[0])))
                        for v, g in grid.items()))
        if key not in self._index_values:
            f = sp.lambdify(list(grid), as_basic(e).xreplace(self.subs), "numpy")
            out = np.asarray(f(*grid.values())) * np.ones((), dtype=np.int64)
            self._index_values[key] = out.reshape((1,) * (self.n - out.ndim) + out.shape) \
                if out.ndim < self.n else out
        return self._index_values[key]

    def _code(self, expr: sp.Expr, grid: dict[sp.Symbol, object], into: str | None = None) -> str:
        """Code for ``expr`` over the index grid (index symbol -> int array or int); a sum or
        product written ``into`` a workspace array (its last operation's ``out``)."""
        if expr.free_symbols & set(self.subs):
            expr = expr.xreplace(self.subs)
        if isinstance(expr, sp.Indexed):
            return self._gather(expr.base.name, expr.indices, grid)
        if isinstance(expr, sp.Symbol):
            return self._gather(expr.name, (), grid)
        if expr.is_number:
            return repr(float(expr))
        if isinstance(expr, sp.Sum):
            inner, axes = dict(grid), []
            for v, lo, hi in expr.limits:
                lo, hi = (int(as_basic(b).xreplace(self.subs)) for b in (lo, hi))
                shape = [1] * self.n
                shape[self.axes[v] - 1] = hi - lo + 1
                inner[v] = np.arange(lo, hi + 1).reshape(shape)
                if hi > lo or not self.lower:  # a Σ over one term is that term
                    axes.append(self.axes[v])
            if expr == self._fold:  # summed over the batch too (see _fit)
                axes.insert(0, 0)
                self._fold = None
            if not axes:
                return self._code(expr.function, inner)
            code = self._contracted(expr.function, inner, set(axes)) or \
                self._summed(expr.function, inner, axes)
            if self._memo is None:  # inside a step-by-step group arrays change between lines
                return code
            if code not in self._memo:
                self._memo[code] = f"A['_s{len(self._memo)}']"
                self.lines.append(f"{self._memo[code]} = {code}")
            return self._memo[code]
        if isinstance(expr, sp.Add):  # −1·x printed as a subtraction: one array operation less
            plus = [a for a in expr.args if not a.could_extract_minus_sign()]
            minus = [-a for a in expr.args if a.could_extract_minus_sign()]
            parts = [("+", self._code(a, grid)) for a in plus] + [("-", self._code(a, grid)) for a in minus]
            return joined(parts, into)
        if isinstance(expr, sp.Mul):  # x·y^−1 printed as a division
            over = [a.base for a in expr.args if isinstance(a, sp.Pow) and a.exp == -1]
            times = [a for a in expr.args if not (isinstance(a, sp.Pow) and a.exp == -1)]
            parts = [("*", self._code(a, grid)) for a in times] or [("*", "1.0")]
            return joined(parts + [("/", self._code(a, grid)) for a in over], into)
        if isinstance(expr, sp.Pow):  # x², √x as such: XLA's pow(x, 2.0) is exp(2 log x)
            base = self._code(expr.base, grid)
            if expr.exp == sp.S.Half:
                return f"xp.sqrt({base})"
            if expr.exp.is_Integer:
                return f"({base} ** {int(expr.exp)})"
            return f"({base} ** {float(expr.exp)!r})"
        if isinstance(expr, sp.KroneckerDelta):
            a, b = (self._values(e, grid) for e in expr.args)
            return self._const((a == b).astype(float)[None])
        if isinstance(expr, ClassMax):
            return f"kmax({self._code(expr.args[0], grid)}, {self.axes[expr.args[1]]})"
        if expr.func in _CALLS:
            return f"{_CALLS[expr.func]}({self._code(expr.args[0], grid)})"
        op = ops.op_of(expr.func)
        if op is not None and op.name in ops.kernel_names(self.backend):
            rest = "".join(f", {float(a)!r}" for a in expr.args[1:])
            return f"{op.name}({self._code(expr.args[0], grid)}{rest})"
        raise NotImplementedError(f"no batched code for {type(expr).__name__}: {expr}")

    def _summed(self, function: sp.Expr, grid, axes: list[int]) -> str:
        """Σ of ``function`` over ``axes``: on numpy by a vector of ones where the axes allow."""
        code = self._product(self._code(function, grid), False)
        by_ones = None if self.backend != "numpy" or not self.lower else lowering.summed_by_ones(
            code, self._dims(function, grid), set(axes), self.n, self._const)
        return by_ones or f"ksum({code}, {tuple(axes)})"

    def _product(self, code: str, new: bool = True) -> str:
        # a product that several Σs read ((1 − h²)·δ_h in BPTT's three gradients) is one line
        if self._memo is None or (code not in self._memo and not new):
            return code
        if code not in self._memo:
            self._memo[code] = f"A['_s{len(self._memo)}']"
            self.lines.append(f"{self._memo[code]} = {code}")
        return self._memo[code]

    def _contracted(self, function: sp.Expr, grid, summed: set[int]) -> str | None:
        """Σ of c·f·g·… (a number c, array factors) as one matrix product of two groups of
        factors, or None. Of the splits that keep every summed axis in both groups, the one
        whose elementwise products are smallest wins."""
        if not self.lower or not isinstance(function, sp.Mul):
            return None
        numbers = [a for a in function.args if a.is_number]
        factors = [a for a in function.args if not a.is_number]
        if not 2 <= len(factors) <= 6:
            return None
        dims = [self._dims(f, grid) for f in factors]

        def size(d):  # the batch length is unknown here: count it as 64
            return int(np.prod([64 if v is None else v for v in d.values()]))
        best = None
        for mask in range(1, 2 ** (len(factors) - 1)):
            left = [k for k in range(len(factors)) if mask >> k & 1]
            right = [k for k in range(len(factors)) if not mask >> k & 1]
            ld = {a: d for k in left for a, d in dims[k].items()}
            rd = {a: d for k in right for a, d in dims[k].items()}
            if not summed <= set(ld) & set(rd):
                continue
            cost = sum(size(ld) for _ in left[1:]) + sum(size(rd) for _ in right[1:])
            if best is None or cost < best[0]:
                best = (cost, left, right, ld, rd)
        if best is None:
            return None
        _, left, right, ld, rd = best

        def group(ks):
            codes = [self._code(factors[k], grid) for k in ks]
            return codes[0] if len(codes) == 1 else self._product("(" + " * ".join(codes) + ")")
        code = contraction(group(left), ld, group(right), rd, summed, self.n)
        if code is not None:
            code = gathered_in_order(code, self.consts, self._const)
        if code is None or not numbers:
            return code
        return f"({self._code(sp.Mul(*numbers), grid)} * {code})"

    def _dims(self, expr: sp.Expr, grid) -> dict[int, int | None]:
        """{axis: length} of the axes longer than 1 in ``expr``'s code; the batch axis 0 has
        length None (known when called). A reshape needs these; a matmul needs them sorted."""
        if expr.free_symbols & set(self.subs):
            expr = expr.xreplace(self.subs)
        if isinstance(expr, sp.Indexed | sp.Symbol):
            name = expr.base.name if isinstance(expr, sp.Indexed) else expr.name
            out: dict[int, int | None] = {0: None} if self._is_batched(name) else {}
            if isinstance(expr, sp.Indexed):  # the shape _gather's code has
                base = name[6:] if name.startswith("delta_") else name
                raw = [self._values(e, grid) for e in expr.indices]
                view = as_view([v - lo for v, (lo, _) in zip(raw, self.ranges[base],
                                                              strict=True)],
                                self.n, self.ranges[base], self.lower)
                shape = view[0] if view is not None else np.broadcast_shapes(
                    *(v.shape for v in raw))
                out.update({a + 1: d for a, d in enumerate(shape) if d > 1})
            return out
        if isinstance(expr, sp.KroneckerDelta):
            shape = np.broadcast_shapes(*(self._values(e, grid).shape for e in expr.args))
            return {a + 1: d for a, d in enumerate(shape) if d > 1}
        if expr.is_number:
            return {}
        if isinstance(expr, ClassMax):  # kmax keeps the class axis, at length 1
            out = self._dims(expr.args[0], grid)
            out.pop(self.axes[expr.args[1]], None)
            return out
        if isinstance(expr, sp.Sum):
            inner = dict(grid)
            for v, lo, hi in expr.limits:
                lo, hi = (int(as_basic(b).xreplace(self.subs)) for b in (lo, hi))
                shape = [1] * self.n
                shape[self.axes[v] - 1] = hi - lo + 1
                inner[v] = np.arange(lo, hi + 1).reshape(shape)
            out = self._dims(expr.function, inner)
            for v, *_ in expr.limits:
                out.pop(self.axes[v], None)
            return out
        out = {}
        for a in expr.args:
            out.update(self._dims(a, grid))
        return out

    def _is_batched(self, name: str) -> bool:
        base = name[6:] if name.startswith("delta_") else name
        return self.qs[base].kind != "parameter"

    def _gather(self, name: str, indices, grid) -> str:
        """name[indices] over the grid as a (batch, axis…) array, zero outside its range."""
        base = name[6:] if name.startswith("delta_") else name
        batched = self._is_batched(name)
        if not indices:
            return f"A[{name!r}].reshape((-1,) + (1,) * {self.n})" if batched else \
                f"A[{name!r}]"
        raw = [self._values(e, grid) for e in indices]
        view = as_view([v - lo for v, (lo, _) in zip(raw, self.ranges[base], strict=True)],
                        self.n, self.ranges[base], self.lower)
        if view is not None:  # the whole array, each index along one axis: no gather
            shape, order, at = view
            moved = f"A[{name!r}]"
            if any(a != ":" for a in at):  # h[t+1] at a fixed t: a basic slice, no gather
                moved += f"[{', '.join([':'] * batched + at)}]"
            if order != sorted(order):  # W_{i,j} read with j's axis first: a transpose
                lead = [0] if batched else []
                moved = f"perm({moved}, {tuple(lead + [d + len(lead) for d in order])})"
            return f"{moved}.reshape(({'-1' if batched else '1'}, " + \
                "".join(f"{d}, " for d in shape) + "))"
        values = np.broadcast_arrays(*raw)
        ok = np.ones(values[0].shape, dtype=bool)
        pos = []
        for v, (lo, hi) in zip(values, self.ranges[base], strict=True):
            ok &= (v >= lo) & (v <= hi)
            pos.append(np.clip(v - lo, 0, hi - lo).astype(np.int64))
        if batched:  # one flat index: the gather comes out C-ordered, batch axis first
            width = tuple(hi - lo + 1 for lo, hi in self.ranges[base])
            got = f"take(A[{name!r}], {self._const(np.ravel_multi_index(tuple(pos), width))})"
        else:
            got = f"A[{name!r}][{', '.join(self._const(p) for p in pos)}][None]"
        # in place: a gather is a fresh array, and a second one as large cost 10× the product
        # here (fresh pages), the full convolution's δ_{m,i−k+1} being the case
        return got if ok.all() else f"imul({got}, {self._const(ok.astype(float)[None])})"

    # -- the program ---------------------------------------------------------------------------------
    def _fit(self, rhs: sp.Expr, grid, q: Quantity, fixed: Mapping[sp.Symbol, int],
             batched: bool) -> str:
        """The (batch, axis…) result as an array of q's own shape (batch first if batched)."""
        folded = None if batched or not self.lower else batch_summed(rhs.xreplace(self.subs))
        if folded is not None and 0 not in self._dims(folded, grid):
            folded = None
        # a gradient Σ_t … averaged over the batch: the batch joins the Σ's axes, so one
        # matrix product over (batch, t) replaces a stack of per-sample ones and a mean
        self._fold = None if folded is None else folded.xreplace(self.subs)
        # a gradient x_k·Σ_j … (attention's ∂L/∂W^K) averaged over the batch: one matrix
        # product over the batch of its factors, not a stack of outer products and a mean
        code = None if batched or not self.lower or folded is not None else \
            self._contracted(rhs.xreplace(self.subs), grid, {0})
        has = self._dims(rhs, grid) if self.lower else {}
        if code is not None:
            folded = rhs
        else:  # a fresh array each call cost page faults (numpy: written into a workspace)
            code = self._code(rhs, grid, lowering.workspace(
                has, [self.axes[v] for v, (lo, hi) in zip(q.indices, self.ranges[q.name],
                                                          strict=True) if hi > lo],
                self.n, len(self.lines)) if batched and not fixed and self.backend == "numpy"
                and self._memo is not None else None)
        if self._fold is not None:  # not reached (a memo hit): the batch mean stays
            folded = self._fold = None
        own = [self.axes[v] for v in q.indices]
        perm = [0, *own, *(a for a in range(1, self.n + 1) if a not in own)]
        dims = [1 if v in fixed else hi - lo + 1
                for v, (lo, hi) in zip(q.indices, self.ranges[q.name], strict=True)]
        full = [1] * (self.n + 1)
        for a, d in zip(own, dims, strict=True):
            full[a] = d
        shape = "(A['_batch'], " + "".join(f"{d}, " for d in full[1:]) + ")"
        has = set(has)
        if folded is not None:
            has.discard(0)
        spans = (bool(has) or folded is not None) and \
            {a for a, d in zip(own, dims, strict=True) if d > 1} <= has
        # an array that already spans every axis it must (the batch too, unless averaged
        # away) needs no broadcast copy: a reshape (a view) gives it q's shape
        moved = code if spans and (0 in has or not batched) else f"bcast({code}, {shape})"
        moving = [a for a, d in zip(own, dims, strict=True) if d > 1]
        lead = "A['_batch'], " if moved != code or 0 in has else ""
        if moving != sorted(moving):  # only the order of axes longer than 1 matters
            moved = permuted(moved, tuple(perm)) if self.lower else f"perm({moved}, {tuple(perm)})"
        shape = f"(({lead}" + "".join(f"{d}, " for d in dims) + "))"
        out = lowering.reshaped(moved, shape[1:-1]) if self.lower else f"{moved}.reshape{shape}"
        out = out if batched or not lead else f"bmean({out})"
        return out if folded is None else f"({out} / A['_batch'])"

    def _generate(self) -> None:
        nodes = [q for q in self.qs.values() if q.name in self.defs]
        k = 0
        while k < len(nodes):  # a group runs to the last quantity it uses before definition
            end = k
            for j in range(k, len(nodes)):
                used = {a.base.name for a in self.defs[nodes[j].name].atoms(sp.Indexed)}
                later = [m for m in range(j, len(nodes)) if nodes[m].name in used]
                if j <= end and later:
                    end = max(end, *later)
            group = nodes[k:end + 1]
            self._store([(q.name, q, self.defs[q.name], q.kind != "parameter") for q in group])
            k = end + 1
        position = {name: n for n, name in enumerate(self.qs)}
        deltas = sorted((eq for eq in self.equations if eq.kind == "delta"),
                        key=lambda eq: -position[eq.name])  # loss side first: δ^{[l]} needs δ^{[l+1]}
        # the parameters' gradients first; the inputs' (computed when read) after the cut
        rest = [eq for eq in self.equations if eq.kind != "delta"]
        later = [eq for eq in rest if self.qs[eq.name].kind != "parameter"]
        for eq in [*deltas, *(eq for eq in rest if self.qs[eq.name].kind == "parameter"), None,
                   *later]:
            if eq is None:
                self._cut = len(self.lines)
                continue
            q = self.qs[eq.name]
            target = f"delta_{eq.name}" if eq.kind == "delta" else f"grad_{eq.name}"
            batched = q.kind != "parameter"
            rhs = eq.rhs
            if eq.kind == "delta":
                own = f"delta_{eq.name}"
                rhs = rhs.replace(lambda e, own=own: isinstance(e, sp.Indexed) and
                                  e.base.name == own,
                                  lambda e, t=target: sp.IndexedBase(t)[e.indices])
            self._store([(target, q, rhs, batched)])
