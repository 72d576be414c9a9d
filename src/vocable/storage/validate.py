"""Checks on text before it reaches the database: length, UTF-8, NUL bytes."""

from __future__ import annotations

from vocable.errors import StorageInputError


def clean_text(value: str | bytes, *, field: str, max_chars: int) -> str:
    """Return `value` as text the database can hold, or raise a typed error.

    Args:
        value: Text, or bytes that must be UTF-8.
        field: Name used in the error message.
        max_chars: Longest text accepted.

    Raises:
        StorageInputError: ``storage.invalid_text`` for bytes that are not UTF-8, unpaired
            surrogates or NUL characters; ``storage.text_too_long`` past `max_chars`.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise StorageInputError(
                f"{field} is not valid UTF-8 (byte {err.start})", code="storage.invalid_text"
            ) from err
    if "\x00" in value:
        raise StorageInputError(f"{field} contains a NUL character", code="storage.invalid_text")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise StorageInputError(
                f"{field} holds an unpaired surrogate, which is not valid UTF-8",
                code="storage.invalid_text",
            ) from err
    if len(value) > max_chars:
        raise StorageInputError(
            f"{field} has {len(value)} characters; the limit is {max_chars}"
            " (storage.max_message_chars)",
            code="storage.text_too_long",
        )
    return value
