"""Errors raised on bad user input.

Every error a user can trigger with a file, a config or a command-line value is an
:class:`InputError` whose message is one line naming *where* (file, field, key) and
*what* is wrong. The CLI turns it into that line on stderr and exit code 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a corrupt file, a wrong schema, a bad value. The message is one line."""

    def __init__(self, where: str, what: str) -> None:
        self.where = str(where)
        self.what = str(what)
        super().__init__(f"{self.where}: {self.what}")
