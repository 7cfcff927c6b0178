"""Composition expressions of campaign files, e.g. ``contrast(qed, sa, alpha=0.05)``.

The grammar is a Python call, read with :mod:`ast` and never evaluated:

- ``harmonic_mean(a, b)``, ``harmonic_mean(a, b, alpha=0.3)``
- ``contrast(a, b)``, ``contrast(a, b, alpha=0.05)``
- ``mixture(a, b, ...)``
- ``compose(y=[a, b, c])``, optionally ``weights=[{a: 1, b: 3}, ...]`` or
  ``weights=[[0.2, 0.8], ...]`` and ``bases=[a, b, c]``

Base names are bare identifiers (or strings) naming bases of the campaign.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from ..composition import Composition, compose, contrast, harmonic_mean, mixture
from ..errors import UserError

OPERATORS = ("harmonic_mean", "contrast", "mixture", "compose")


def parse_composition(text: str, bases: Collection[str], where: str) -> Composition:
    """The :class:`Composition` that ``text`` writes; ``bases``: the names it may use.

    Raises ``UserError`` starting with ``where`` (e.g. ``"[compositions.both] expr"``)
    for a syntax error, an unknown operator or argument, a base not in ``bases``, or
    an invalid value (α outside (0, 1), bad weights).
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise UserError(
            f"{where}: cannot read {text!r}; expected e.g. 'harmonic_mean(a, b)'"
        ) from None
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        raise UserError(f"{where}: {text!r} is not a call of one of {', '.join(OPERATORS)}")
    operator = tree.func.id
    if operator not in OPERATORS:
        raise UserError(
            f"{where}: unknown composition {operator!r}; use one of {', '.join(OPERATORS)}"
        )
    reader = _Reader(text, bases, where)
    args = [reader.name(node) for node in tree.args]
    kwargs = {kw.arg: kw.value for kw in tree.keywords}
    if None in kwargs:
        raise UserError(f"{where}: '**' is not allowed in {text!r}")
    try:
        if operator == "mixture":
            reader.no_keywords(operator, kwargs)
            return mixture(*args)
        if operator == "compose":
            return reader.compose(args, kwargs)
        allowed = {"alpha"}
        unknown = set(kwargs) - allowed
        if unknown or len(args) != 2:
            raise UserError(f"{operator} takes two bases and optionally alpha=..., got {text!r}")
        alpha = reader.number(kwargs["alpha"]) if "alpha" in kwargs else 0.5
        build = harmonic_mean if operator == "harmonic_mean" else contrast
        return build(args[0], args[1], alpha=alpha)
    except UserError as error:
        message = str(error)
        raise UserError(message if message.startswith(where) else f"{where}: {message}") from None


class _Reader:
    """Reads the literal pieces of one expression, with errors naming it."""

    def __init__(self, text: str, bases: Collection[str], where: str):
        self.text, self.bases, self.where = text, bases, where

    def fail(self, message: str) -> UserError:
        return UserError(f"{self.where}: {message} in {self.text!r}")

    def name(self, node: ast.expr) -> str:
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value
        else:
            raise self.fail(f"expected a base name, got {ast.unparse(node)!r}")
        if name not in self.bases:
            defined = ", ".join(sorted(self.bases)) or "none"
            raise UserError(
                f"{self.where}: base {name!r} is not defined in [bases] (defined: {defined})"
            )
        return name

    def number(self, node: ast.expr) -> float:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.number(node.operand)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return float(node.value)
        raise self.fail(f"expected a number, got {ast.unparse(node)!r}")

    def names(self, node: ast.expr) -> list[str]:
        if not isinstance(node, ast.List | ast.Tuple):
            raise self.fail(f"expected a list of base names, got {ast.unparse(node)!r}")
        return [self.name(item) for item in node.elts]

    def weights(self, node: ast.expr) -> list:
        if not isinstance(node, ast.List | ast.Tuple):
            raise self.fail("weights must be a list with one entry per observation")
        rows = []
        for row in node.elts:
            if isinstance(row, ast.Dict):
                rows.append(
                    {
                        self.name(k): self.number(v)
                        for k, v in zip(row.keys, row.values, strict=True)
                    }
                )
            elif isinstance(row, ast.List | ast.Tuple):
                rows.append([self.number(v) for v in row.elts])
            else:
                raise self.fail("a weight row must be a list or a {base: weight} table")
        return rows

    def no_keywords(self, operator: str, kwargs: dict) -> None:
        if kwargs:
            raise self.fail(f"{operator} takes only base names")

    def compose(self, args: list[str], kwargs: dict[str, ast.expr]) -> Composition:
        unknown = set(kwargs) - {"y", "weights", "bases"}
        if args or unknown or "y" not in kwargs:
            raise self.fail("compose takes y=[...] and optionally weights=[...], bases=[...]")
        return compose(
            y=self.names(kwargs["y"]),
            weights=self.weights(kwargs["weights"]) if "weights" in kwargs else None,
            bases=self.names(kwargs["bases"]) if "bases" in kwargs else None,
        )
