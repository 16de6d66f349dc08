"""Base classes of request bodies and query strings, shared by every domain.

Bodies are strict (a number is not a string, a string is not a number); unknown fields are
ignored. Text that no database column can hold (NUL characters, lone surrogates: JSON allows both
as escapes) is a 422 naming the field, never a database error.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator


def storable(value: object) -> object:
    """Refuse what no text column can hold: NUL characters and lone surrogates."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("must not contain NUL characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class Body(BaseModel):
    """A JSON request body."""

    model_config = ConfigDict(strict=True, extra="ignore")

    @field_validator("*")
    @classmethod
    def only_storable_text(cls, value: object) -> object:
        return storable(value)


class Query(BaseModel):
    """A query string (values arrive as text, so not strict)."""

    @field_validator("*")
    @classmethod
    def only_storable_text(cls, value: object) -> object:
        return storable(value)
