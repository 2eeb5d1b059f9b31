"""Safe arithmetic expressions over (jagged) branches, for the ntuple importer.

An expression such as ``log(sqrt(px**2 + py**2))`` or ``sum(E * (pid == 2212))`` is parsed
with :mod:`ast`, checked against a whitelist (names, numbers, arithmetic, comparisons,
``& | ~``, whitelisted numpy functions and per-event reductions), and evaluated on awkward
arrays by a small interpreter: never with Python ``eval``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np

from hepfm.errors import InputError



def _clip(x: Any, lo: Any, hi: Any) -> Any:
    return np.minimum(np.maximum(x, lo), hi)  # ufuncs: work on awkward arrays (np.clip does not)


def _where(cond: Any, a: Any, b: Any) -> Any:
    if any(isinstance(v, ak.Array) for v in (cond, a, b)):
        return ak.where(cond, a, b)
    return np.where(cond, a, b)


#: elementwise functions allowed in expressions: name -> (function, number of arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    **{name: (getattr(np, name), 1) for name in (
        "log", "log10", "log1p", "exp", "sqrt", "abs", "sign", "floor", "ceil",
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "arcsinh", "arccosh", "arctanh")},
    **{name: (getattr(np, name), 2) for name in ("arctan2", "hypot", "minimum", "maximum")},
    "round": (np.rint, 1),
    "clip": (_clip, 3),
    "where": (_where, 3),
}
#: per-event reductions over the innermost list: sum, count, mean, any, all; min / max with
#: an optional second argument, the value for empty lists (else NaN, which is then an error)
REDUCTIONS = ("sum", "count", "mean", "min", "max", "any", "all")
#: list helper: index(x) = position of each entry in its list (0, 1, ...)
LIST_FUNCTIONS = ("index",)
CONSTANTS = {"pi": np.pi}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.Pow: np.float_power, ast.Mod: np.mod, ast.FloorDiv: np.floor_divide,
    ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less, ast.LtE: np.less_equal,
    ast.Gt: np.greater, ast.GtE: np.greater_equal,
}
_QUOTED = re.compile(r"`([^`]+)`")
MAX_EXPRESSION_CHARS = 2000


@dataclass(frozen=True)
class Expr:
    """A parsed, whitelisted expression. ``names``: branch or alias names it reads directly."""

    text: str
    key: str
    node: ast.expr = field(repr=False, compare=False)
    names: frozenset[str]
    quoted: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


def parse_expression(text: str | int | float, key: str = "expression", src: str = "") -> Expr:
    """Parse ``text`` into an :class:`Expr`; anything outside the whitelist is an :class:`InputError`.

    Allowed: branch / alias names (``\\`odd.name\\``` in backticks for names that are not
    Python identifiers), numbers, ``+ - * / ** % //``, unary ``-``, comparisons,
    ``& | ~`` (and ``and or not``) as logical operations, ``x[i]`` (element ``i`` of the
    innermost list, e.g. a 4-vector component), the :data:`FUNCTIONS`, :data:`REDUCTIONS`,
    ``index(x)`` and the constant ``pi``. ``key`` names the mapping entry; errors are
    reported at ``<src>:<key>``.
    """
    where = f"{src}:{key}" if src else key
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise InputError(where, f"expression must be a string or a number, got {type(text).__name__}")
    source = str(text).strip()
    if len(source) > MAX_EXPRESSION_CHARS:
        raise InputError(where, f"expression longer than {MAX_EXPRESSION_CHARS} characters; split it with aliases")
    quoted: dict[str, str] = {}

    def _quote(match: re.Match[str]) -> str:
        name = f"__branch{len(quoted)}__"
        quoted[name] = match.group(1)
        return name

    try:
        tree = ast.parse(_QUOTED.sub(_quote, source), mode="eval")
    except SyntaxError as err:
        raise InputError(where, f"cannot parse expression {source!r} ({err.msg})") from None
    names: set[str] = set()
    _check_node(tree.body, where, source, names, quoted)
    return Expr(source, key, tree.body, frozenset(quoted.get(n, n) for n in names), quoted)


def _check_node(node: ast.AST, key: str, text: str, names: set[str], quoted: Mapping[str, str]) -> None:
    def bad(what: str) -> InputError:
        return InputError(key, f"{what} not allowed in expression {text!r}")

    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise bad(f"constant {node.value!r}")
        return
    if isinstance(node, ast.Name):
        if node.id.startswith("__") and node.id not in quoted:
            raise bad(f"name {node.id!r}")
        if node.id not in CONSTANTS or node.id in quoted:
            names.add(node.id)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise bad(f"operator {type(node.op).__name__}")
        children: list[ast.AST] = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not, ast.Invert)):
            raise bad(f"operator {type(node.op).__name__}")
        children = [node.operand]
    elif isinstance(node, ast.BoolOp):
        children = list(node.values)
    elif isinstance(node, ast.Compare):
        if any(type(op) not in _COMPARE for op in node.ops):
            raise bad("comparison 'in' / 'is'")
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.Subscript):
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            index = index.operand
        if not (isinstance(index, ast.Constant) and type(index.value) is int):
            raise bad("subscript other than an integer constant x[i]")
        children = [node.value]
    elif isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else None
        allowed = sorted({*FUNCTIONS, *REDUCTIONS, *LIST_FUNCTIONS})
        if func is None:
            raise bad("call of a non-name (attribute or expression)")
        if func not in allowed:
            raise InputError(key, f"unknown function {func!r} in expression {text!r}; allowed: {', '.join(allowed)}")
        if node.keywords:
            raise bad("keyword arguments")
        want = (FUNCTIONS[func][1],) if func in FUNCTIONS else (1, 2) if func in ("min", "max") else (1,)
        if len(node.args) not in want:
            raise InputError(key, f"{func}() takes {' or '.join(map(str, want))} argument(s), got {len(node.args)} in {text!r}")
        if func in ("min", "max") and len(node.args) == 2 and not _is_number(node.args[1]):
            raise InputError(key, f"{func}(x, default): default must be a number in {text!r}")
        children = list(node.args)
    else:
        raise bad(type(node).__name__)
    for child in children:
        _check_node(child, key, text, names, quoted)


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


class Env:
    """Evaluates expressions on one chunk: ``arrays`` holds the branches, aliases are memoised."""

    def __init__(self, arrays: Mapping[str, Any], aliases: Mapping[str, Expr]) -> None:
        self.arrays, self.aliases = arrays, aliases
        self.memo: dict[str, Any] = {}

    def eval(self, expr: Expr) -> Any:
        with np.errstate(all="ignore"):
            return self._eval(expr.node, expr)

    def _name(self, name: str, expr: Expr) -> Any:
        if name in expr.quoted:
            return self.arrays[expr.quoted[name]]
        if name in self.aliases:
            if name not in self.memo:
                self.memo[name] = self.eval(self.aliases[name])
            return self.memo[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        return self.arrays[name]

    def _eval(self, node: ast.AST, expr: Expr) -> Any:
        ev = self._eval
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._name(node.id, expr)
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](ev(node.left, expr), ev(node.right, expr))
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand, expr)
            if isinstance(node.op, ast.USub):
                return np.negative(value)
            return value if isinstance(node.op, ast.UAdd) else np.logical_not(value)
        if isinstance(node, ast.BoolOp):
            op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = ev(node.values[0], expr)
            for child in node.values[1:]:
                out = op(out, ev(child, expr))
            return out
        if isinstance(node, ast.Compare):
            left, out = ev(node.left, expr), True
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp, expr)
                out = np.logical_and(out, _COMPARE[type(op)](left, right))
                left = right
            return out
        if isinstance(node, ast.Subscript):
            index = ast.literal_eval(node.slice)
            value = ev(node.value, expr)
            if value_depth(value) < 2:
                raise InputError(expr.key, f"x[{index}] needs a list or array branch in {expr.text!r}")
            return value[..., index]
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        func, args = node.func.id, [ev(a, expr) for a in node.args]
        if func in FUNCTIONS:
            return FUNCTIONS[func][0](*args)
        if value_depth(args[0]) < 2:
            raise InputError(expr.key, f"{func}() needs a per-token (list) argument in {expr.text!r}")
        x = args[0]
        if func == "index":
            return ak.local_index(x, axis=-1)
        if func == "count":
            return ak.num(x, axis=-1)
        if func in ("min", "max"):
            out = (ak.min if func == "min" else ak.max)(x, axis=-1, mask_identity=True)
            return ak.fill_none(out, args[1] if len(args) > 1 else np.nan)
        reduced = {"sum": ak.sum, "mean": ak.mean, "any": ak.any, "all": ak.all}[func](x, axis=-1)
        return ak.fill_none(reduced, np.nan) if reduced.layout.is_option else reduced


def value_depth(value: Any) -> int:
    """0 for a number, 1 for one value per event, 2 for one list per event, ..."""
    if isinstance(value, ak.Array):
        return value.ndim
    return int(np.ndim(value))
