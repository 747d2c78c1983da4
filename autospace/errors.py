"""The one error type for bad input: it names the file (when known), the field and the value."""

from __future__ import annotations


class SpecError(ValueError):
    """An invalid value in a cell, spec, space, config or checkpoint.

    ``str(err)`` is a single line: ``<source>: <field>: <reason> (got <value>)``.
    """

    def __init__(self, field: str, reason: str, value: object = None, source: str | None = None):
        self.field = field
        self.reason = reason
        self.value = value
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        got = "" if self.value is None else f" (got {self.value!r})"
        return f"{head}{self.field}: {self.reason}{got}".replace("\n", " ")

    def within(self, prefix: str = "", source: str | None = None) -> "SpecError":
        """The same error, nested under ``prefix`` (a field path) and/or attributed to ``source``."""
        field = f"{prefix}.{self.field}" if prefix and self.field else (prefix or self.field)
        return SpecError(field, self.reason, self.value, source or self.source)
