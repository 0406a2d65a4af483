"""Pydantic validation errors as one line per problem, named by key path.

Shared by the hub's and the agent's configuration loaders so that both say
``courtroom.id: String should match pattern …`` and ``hub.colour: unknown key``
in the same words.
"""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["validation_problems"]


def validation_problems(exc: ValidationError) -> list[str]:
    """``key.path: message`` for each error of ``exc``, in pydantic's order."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{where}: {message}")
    return problems
