"""Documented error answers for the OpenAPI schema."""

from typing import Any

from api.errors import ErrorOut

Responses = dict[int | str, dict[str, Any]]


def errors(**by_status: str) -> Responses:
    """``errors(_404="No such deck")``: each status with its description and error body."""
    return {
        int(status.lstrip("_")): {"description": description, "model": ErrorOut}
        for status, description in by_status.items()
    }


SIGNED_IN = errors(_401="Missing, invalid, expired or revoked bearer token")
