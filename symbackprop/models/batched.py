"""Batched evaluators generated from a general form's own (verified) equations.

At given sizes, every forward definition and every printed δ and gradient equation becomes
one line of array code: each index (free or summed) owns an axis, an entry such as
x[t, i+k−1] is a gather with constant index arrays (zero outside its range, as the general
form assumes), and Σ_k is a sum over k's axis. A definition or δ that refers to itself at a
shifted index (h[t−1] in the forward pass, δ[t+1] in BPTT) is evaluated step by step along
that index, in the direction the shift demands; everything else is one vectorised line.
Samples run along a leading batch axis; parameter gradients are averaged over the batch.

>>> import numpy as np
>>> from symbackprop.models.forms import conv1d_form
>>> ev = BatchedEvaluator(conv1d_form("tanh"), {"n": 5, "K": 3})
>>> rng = np.random.default_rng(0)
>>> out = ev({"x": rng.normal(size=(4, 5)), "y": rng.normal(size=4)},
...          {"w": rng.normal(size=3), "b": 0.1, "v": rng.normal(size=3), "c": 0.0})
>>> out.gradients["w"].shape, out.loss.shape
((3,), (4,))
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .. import functions
from ..general import GeneralForm, Quantity, _basic

__all__ = ["BatchedEvaluator", "BatchedResult"]


@dataclass
class BatchedResult:
    """Per-sample losses, batch-mean parameter gradients, and every array computed."""

    loss: object
    gradients: dict[str, object]
    arrays: dict[str, object]


def _backend(name: str) -> dict[str, object]:
    if name == "numpy":
        return {
            "xp": np, "tensor": np.asarray,
            "ksum": lambda a, axis: np.sum(a, axis=axis, keepdims=True),
            "kmax": lambda a, axis: np.max(a, axis=axis, keepdims=True),
            "bcast": lambda x, s: np.broadcast_to(np.asarray(x, dtype=float), s),
            "perm": np.transpose, "bmean": lambda x: x.mean(axis=0),
            "heaviside": lambda z: (z > 0).astype(float),
            "sigmoid": lambda z: 0.5 * (1 + np.tanh(0.5 * z)),
            "relu": lambda z: np.maximum(z, 0.0),
            "zeros": lambda shape: np.zeros(shape),
        }
    if name == "torch":
        import torch

        def tensor(a):
            a = np.asarray(a)
            return torch.as_tensor(a, dtype=torch.int64 if a.dtype.kind == "i" else torch.float64)
        return {
            "xp": torch, "tensor": tensor,
            "ksum": lambda a, axis: a.sum(dim=axis, keepdim=True),
            "kmax": lambda a, axis: torch.amax(a, dim=axis, keepdim=True),
            "bcast": lambda x, s: torch.broadcast_to(torch.as_tensor(x, dtype=torch.float64), s),
            "perm": lambda x, p: x.permute(p), "bmean": lambda x: x.mean(dim=0),
            "heaviside": lambda z: (z > 0).to(torch.float64),
            "sigmoid": torch.sigmoid, "relu": torch.relu,
            "zeros": lambda shape: torch.zeros(shape, dtype=torch.float64),
        }
    if name == "jax":
        import jax
        import jax.numpy as jnp

        def jtensor(a):
            a = np.asarray(a)
            return jnp.asarray(a, dtype=jnp.int64 if a.dtype.kind == "i" else jnp.float64)
        return {
            "xp": jnp, "tensor": jtensor,
            "ksum": lambda a, axis: jnp.sum(a, axis=axis, keepdims=True),
            "kmax": lambda a, axis: jnp.max(a, axis=axis, keepdims=True),
            "bcast": lambda x, s: jnp.broadcast_to(jnp.asarray(x, dtype=jnp.float64), s),
            "perm": jnp.transpose, "bmean": lambda x: x.mean(axis=0),
            "heaviside": lambda z: (z > 0).astype(jnp.float64),
            "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu,
            "zeros": lambda shape: jnp.zeros(shape, dtype=jnp.float64),
        }
    raise ValueError(f"unknown backend {name!r}; expected numpy, torch or jax")


def _float64(backend: str):
    """jax computes in float32 unless x64 is on: the evaluator turns it on for its own work
    only (tracing, constants, calls), as numpy and torch compute in float64 here too."""
    if backend == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()


class _ClassMax(sp.Function):
    """max over the index ``v`` of ``expr`` (code only: the softmax's shift, never printed)."""

    nargs = 2


def _stable_softmax(form: GeneralForm) -> tuple[dict[str, Quantity], dict[str, sp.Expr]]:
    """The quantities to compute, in order, and their definitions, with every softmax (e =
    exp(o), Z = Σ_k e, ŷ = e/Z) computed stably: log e = o − max_k o first (e and Z are then
    the textbook's scaled by exp(−max_k o), which cancels in ŷ), and log ŷ in the loss taken as
    log e − log Z, so that a saturated softmax gives no overflow and no 0 · log 0.

    A softmax is left as written where a δ or gradient equation reads e or Z itself (the
    scaling would not cancel there)."""
    qs = dict(form.quantities)
    defs = {n: q.expr for n, q in qs.items() if q.expr is not None}
    read = {a.base.name if isinstance(a, sp.Indexed) else a.name
            for eq in form.equations() if eq.kind != "forward"
            for a in eq.rhs.atoms(sp.Indexed, sp.Symbol)}
    order = list(qs)
    for q in form.quantities.values():
        hit = _softmax_of(qs, q)
        if hit is None or {hit[0].name, hit[1].name} & read:
            continue
        e, Z, cls = hit
        o = e.expr.args[0]
        log_e = Quantity(f"{e.name}_log", "", "node", e.indices, e.ranges,
                         o - _ClassMax(o, cls))
        qs[log_e.name] = log_e
        order.insert(order.index(e.name), log_e.name)
        defs[log_e.name], defs[e.name] = log_e.expr, sp.exp(log_e.entry)
        log_q = log_e.entry - sp.log(Z.at(*[v for v in e.indices if v != cls]))

        def is_log(x, q=q) -> bool:
            return x.func == sp.log and isinstance(x.args[0], sp.Indexed) and \
                x.args[0].base.name == q.name

        def log_of(x, q=q, log_q=log_q) -> sp.Expr:
            return log_q.xreplace(dict(zip(q.indices, x.args[0].indices, strict=True)))
        defs = {n: expr.replace(is_log, log_of) if expr.has(sp.log) else expr
                for n, expr in defs.items()}
    return {n: qs[n] for n in order}, defs


def _softmax_of(qs: Mapping[str, Quantity], q: Quantity):
    """(e, Z, class index) if q is ŷ = e/Z with e = exp(o) and Z = Σ of e over one index."""
    if not isinstance(q.expr, sp.Mul) or len(q.expr.args) != 2:
        return None
    num = next((f for f in q.expr.args if isinstance(f, sp.Indexed)), None)
    den = next((f.base for f in q.expr.args if isinstance(f, sp.Pow) and f.exp == -1), None)
    if num is None or not isinstance(den, sp.Indexed | sp.Symbol):
        return None
    e = qs.get(num.base.name)
    Z = qs.get(den.base.name if isinstance(den, sp.Indexed) else den.name)
    if e is None or Z is None or e.expr is None or e.expr.func != sp.exp or \
            not isinstance(Z.expr, sp.Sum) or len(Z.expr.limits) != 1:
        return None
    (cls, *_), body = Z.expr.limits[0], Z.expr.function
    if not (isinstance(body, sp.Indexed) and body.base.name == e.name and cls in body.indices
            and tuple(num.indices) == tuple(e.indices) == tuple(q.indices)):
        return None
    return e, Z, e.indices[list(body.indices).index(cls)]


_CALLS = {sp.tanh: "xp.tanh", sp.exp: "xp.exp", functions.sigmoid: "sigmoid",
          sp.Heaviside: "heaviside", functions.relu: "relu", sp.log: "xp.log"}


class BatchedEvaluator:
    """Forward pass, named δs and gradients of ``form`` at ``sizes``, for a batch at once.

    Call it with ``inputs`` (inputs and targets: arrays with a leading batch axis, then the
    quantity's own index ranges) and ``parameters`` (arrays of their index ranges).
    """

    def __init__(self, form: GeneralForm, sizes: Mapping[str, int], backend: str = "numpy"):
        form.require(sizes)
        self.form, self.backend = form, backend
        self.subs = {form.sizes[k]: int(v) for k, v in sizes.items()}
        self.qs, self.defs = _stable_softmax(form)
        self.ranges = {n: [(int(_basic(lo).xreplace(self.subs)),
                            int(_basic(hi).xreplace(self.subs))) for lo, hi in q.ranges]
                       for n, q in self.qs.items()}
        self.equations = [eq for eq in form.equations() if eq.kind != "forward"]
        symbols: list[sp.Symbol] = []
        for expr in [*self.defs.values(), *(eq.rhs for eq in self.equations)]:
            for sm in expr.atoms(sp.Sum):
                symbols += [v for v, *_ in sm.limits]
        for q in self.qs.values():
            symbols += list(q.indices)
        self.axes = {v: k + 1 for k, v in enumerate(dict.fromkeys(symbols))}
        self.n = len(self.axes)
        self.consts: dict[str, object] = {}
        self.lines: list[str] = []
        # a Σ already computed (the same code) is reused: an unnamed δ substituted into several
        # equations (W^{[3]}δ^{[3]} in g^{[2]}, ∂L/∂γ^{[2]}, ∂L/∂β^{[2]}) is computed once
        self._memo: dict[str, str] | None = {}
        self._generate()
        self.namespace = dict(_backend(backend))
        tensor = self.namespace["tensor"]
        with _float64(backend):
            self.namespace.update({k: tensor(v) for k, v in self.consts.items()})
        self.source = "def evaluate(A):\n" + "".join(f"    {ln}\n" for ln in self.lines) + \
            "    return A\n"
        _assert_engine_made(self.source, self.namespace)
        code = compile(self.source, f"<batched {form.title}>", "exec")
        exec(code, self.namespace)  # noqa: S102 - code the engine wrote from its own equations
        self._run = self.namespace["evaluate"]
        self._compiled: dict[int, object] = {}  # jax: one jit-compiled program per batch size

    def __call__(self, inputs: Mapping[str, object], parameters: Mapping[str, object]
                 ) -> BatchedResult:
        with _float64(self.backend):
            return self._call(inputs, parameters)

    def _call(self, inputs, parameters) -> BatchedResult:
        # jit takes numpy arrays as they are (one transfer per call, no conversion op each)
        tensor = (lambda a: a) if self.backend == "jax" else self.namespace["tensor"]
        A: dict[str, object] = {}
        for name, q in self.qs.items():
            if q.kind in ("input", "target", "parameter"):
                given = (inputs if q.kind != "parameter" else parameters)[name]
                A[name] = tensor(np.asarray(given, dtype=float)) if not hasattr(
                    given, "dtype") or isinstance(given, np.ndarray) else given
        batch = next(int(A[q.name].shape[0]) for q in self.qs.values()
                     if q.kind in ("input", "target"))
        if self.backend == "jax":
            A = dict(self._jitted(batch)(A))
        else:
            A["_batch"] = batch
            A = self._run(A)
        grads = {eq.name: A[f"grad_{eq.name}"] for eq in self.equations
                 if eq.kind == "gradient"}
        return BatchedResult(A[self.form.loss.name], grads, A)

    def _jitted(self, batch: int):
        if batch not in self._compiled:
            import jax

            def run(arrays, run=self._run, batch=batch):
                out = run({**arrays, "_batch": batch})
                del out["_batch"]
                return out
            self._compiled[batch] = jax.jit(run)
        return self._compiled[batch]

    # -- expressions to code -------------------------------------------------------------------
    def _const(self, value) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def _values(self, e: sp.Expr, grid) -> np.ndarray:
        e = _basic(e).xreplace(self.subs)
        f = sp.lambdify(list(grid), e, "numpy")
        out = np.asarray(f(*grid.values())) * np.ones((), dtype=np.int64)
        return out.reshape((1,) * (self.n - out.ndim) + out.shape) if out.ndim < self.n else out

    def _code(self, expr: sp.Expr, grid: dict[sp.Symbol, object]) -> str:
        """Code for ``expr`` over the index grid (index symbol -> int array or int)."""
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
                lo, hi = (int(_basic(b).xreplace(self.subs)) for b in (lo, hi))
                shape = [1] * self.n
                shape[self.axes[v] - 1] = hi - lo + 1
                inner[v] = np.arange(lo, hi + 1).reshape(shape)
                axes.append(self.axes[v])
            code = f"ksum({self._code(expr.function, inner)}, {tuple(axes)})"
            if self._memo is None:  # inside a step-by-step group arrays change between lines
                return code
            if code not in self._memo:
                self._memo[code] = f"A['_s{len(self._memo)}']"
                self.lines.append(f"{self._memo[code]} = {code}")
            return self._memo[code]
        if isinstance(expr, sp.Add):
            return "(" + " + ".join(self._code(a, grid) for a in expr.args) + ")"
        if isinstance(expr, sp.Mul):
            return "(" + " * ".join(self._code(a, grid) for a in expr.args) + ")"
        if isinstance(expr, sp.Pow):
            return f"({self._code(expr.base, grid)} ** {float(expr.exp)!r})"
        if isinstance(expr, sp.KroneckerDelta):
            a, b = (self._values(e, grid) for e in expr.args)
            return self._const((a == b).astype(float)[None])
        if isinstance(expr, _ClassMax):
            return f"kmax({self._code(expr.args[0], grid)}, {self.axes[expr.args[1]]})"
        if expr.func in _CALLS:
            return f"{_CALLS[expr.func]}({self._code(expr.args[0], grid)})"
        raise NotImplementedError(f"no batched code for {type(expr).__name__}: {expr}")

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
        view = _as_view([v - lo for v, (lo, _) in zip(raw, self.ranges[base], strict=True)],
                        self.n, self.ranges[base])
        if view is not None:  # the whole array, each index along one axis: no gather
            shape, order = view
            moved = f"A[{name!r}]"
            if order != sorted(order):  # W_{i,j} read with j's axis first: a transpose
                lead = [0] if batched else []
                moved = f"perm({moved}, {tuple(lead + [d + len(lead) for d in order])})"
            return f"{moved}.reshape({'(-1, ' if batched else '(1, '}{shape})"
        values = np.broadcast_arrays(*raw)
        ok = np.ones(values[0].shape, dtype=bool)
        pos = []
        for v, (lo, hi) in zip(values, self.ranges[base], strict=True):
            ok &= (v >= lo) & (v <= hi)
            pos.append(self._const(np.clip(v - lo, 0, hi - lo).astype(np.int64)))
        got = f"A[{name!r}][:, {', '.join(pos)}]" if batched else \
            f"A[{name!r}][{', '.join(pos)}][None]"
        return got if ok.all() else f"({got} * {self._const(ok.astype(float)[None])})"

    # -- the program ---------------------------------------------------------------------------------
    def _grid(self, q: Quantity, fixed: Mapping[sp.Symbol, int]):
        grid: dict[sp.Symbol, object] = {}
        for v, (lo, hi) in zip(q.indices, self.ranges[q.name], strict=True):
            if v in fixed:
                grid[v] = fixed[v]
                continue
            shape = [1] * self.n
            shape[self.axes[v] - 1] = hi - lo + 1
            grid[v] = np.arange(lo, hi + 1).reshape(shape)
        return grid

    def _fit(self, code: str, q: Quantity, fixed: Mapping[sp.Symbol, int],
             batched: bool) -> str:
        """The (batch, axis…) result as an array of q's own shape (batch first if batched)."""
        own = [self.axes[v] for v in q.indices]
        perm = [0, *own, *(a for a in range(1, self.n + 1) if a not in own)]
        dims = [1 if v in fixed else hi - lo + 1
                for v, (lo, hi) in zip(q.indices, self.ranges[q.name], strict=True)]
        full = [1] * (self.n + 1)
        for a, d in zip(own, dims, strict=True):
            full[a] = d
        shape = "(A['_batch'], " + "".join(f"{d}, " for d in full[1:]) + ")"
        moved = f"bcast({code}, {shape})"
        moving = [a for a, d in zip(own, dims, strict=True) if d > 1]
        if moving != sorted(moving):  # only the order of axes longer than 1 matters
            moved = f"perm({moved}, {tuple(perm)})"
        out = f"{moved}.reshape((A['_batch'], " + "".join(f"{d}, " for d in dims) + "))"
        return out if batched else f"bmean({out})"

    def _store(self, members: list[tuple[str, Quantity, sp.Expr, bool]]) -> None:
        """Compute target = rhs for each member; a group that refers to itself at a shifted
        index runs step by step along it."""
        names = {m[0] for m in members}
        step = None
        for _target, q, rhs, _b in members:
            step = step or _recursion(rhs, names, q)
        if step is None:
            for target, q, rhs, batched in members:
                self.lines.append(f"A[{target!r}] = " +
                                  self._fit(self._code(rhs, self._grid(q, {})), q, {}, batched))
            return
        memo, self._memo = self._memo, None
        self._step(members, step)
        self._memo = memo

    def _step(self, members, step) -> None:
        for target, q, _rhs, batched in members:
            dims = [hi - lo + 1 for lo, hi in self.ranges[q.name]]
            lead = "A['_batch'], " if batched else ""
            self.lines.append(f"A[{target!r}] = zeros(({lead}" +
                              "".join(f"{d}, " for d in dims) + "))")
        var, direction = step
        q0 = members[0][1]
        lo, hi = self.ranges[q0.name][q0.indices.index(var)]
        for value in (range(lo, hi + 1) if direction > 0 else range(hi, lo - 1, -1)):
            for target, q, rhs, batched in members:
                fixed = {var: value}
                where = ", ".join([":"] * batched + [f"{value - lo}:{value - lo + 1}"
                                                     if v == var else ":" for v in q.indices])
                code = self._fit(self._code(rhs, self._grid(q, fixed)), q, fixed, batched)
                if self.backend == "jax":  # immutable arrays: a functional update
                    self.lines.append(f"A[{target!r}] = A[{target!r}].at[{where}].set({code})")
                else:
                    self.lines.append(f"A[{target!r}][{where}] = {code}")

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
        for eq in [*deltas, *(eq for eq in self.equations if eq.kind != "delta")]:
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


def _as_view(pos: list[np.ndarray], n: int, ranges) -> tuple[str, list[int]] | None:
    """(target shape, the array's dimensions in axis order) if reading at ``pos`` takes the
    whole array with each index running along its own axis, else None (a gather)."""
    shape = [1] * n
    axes = []
    for p, (lo, hi) in zip(pos, ranges, strict=True):
        varying = [a for a in range(p.ndim) if p.shape[a] > 1]
        if len(varying) != 1 or p.ndim != n:
            return None
        axis = varying[0]
        if axis in axes or not np.array_equal(p.reshape(-1), np.arange(hi - lo + 1)):
            return None
        shape[axis] = p.shape[axis]
        axes.append(axis)
    order = sorted(range(len(axes)), key=axes.__getitem__)
    return "".join(f"{d}, " for d in shape) + ")", order


def _recursion(rhs: sp.Expr, names: set[str], q: Quantity):
    """(index, +1 or −1) if rhs uses the group's entries at a shifted index, else None."""
    for atom in rhs.atoms(sp.Indexed):
        if atom.base.name not in names:
            continue
        for v, e in zip(q.indices, atom.indices, strict=True):
            shift = _basic(e - v)
            if shift.is_number and shift != 0:
                return v, (1 if shift < 0 else -1)
    return None


def _assert_engine_made(source: str, namespace: Mapping[str, object]) -> None:
    """Refuse to run code with a name the generator does not write, or a string that is not a
    quantity's identifier: a second lock behind the fact that quantity names come from the
    builders, never from user text."""
    import io
    import tokenize

    allowed = {"def", "return", "None", "evaluate", "A", *namespace}
    previous = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        attribute, previous = previous == ".", tok.string
        if tok.type == tokenize.NAME and tok.string not in allowed and not attribute:
            raise RuntimeError(f"generated code uses an unexpected name {tok.string!r}")
        if tok.type == tokenize.STRING and not tok.string[1:-1].isidentifier():
            raise RuntimeError(f"generated code uses an unexpected string {tok.string}")
