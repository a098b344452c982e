"""The hyperparameters' documentation, read once from the one place it is written: the
docstring under each field of `Hyperparameters` (for `--help` texts and the console's
form, so that neither keeps a copy that could drift)."""

from __future__ import annotations

import ast
import functools
import inspect
import itertools

from tuneyard.core.jobs import Hyperparameters

__all__ = ["hyperparameter_docs"]


@functools.cache
def hyperparameter_docs() -> dict[str, str]:
    """Each hyperparameter's docstring on one line, by field name."""
    tree = ast.parse(inspect.getsource(Hyperparameters))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for field, after in itertools.pairwise(body):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[field.target.id] = " ".join(after.value.value.split())
    return docs
