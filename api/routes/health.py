"""Liveness: `GET /health` for anyone, `GET /api/health` to check a token too."""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser
from api.routes._responses import SIGNED_IN

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class SignedInHealth(Health):
    username: str


@router.get("/health")
def health() -> Health:
    """Liveness: answers without touching storage or requiring a token."""
    return Health()


@router.get("/api/health", responses=SIGNED_IN)
def signed_in_health(user: CurrentUser) -> SignedInHealth:
    """Liveness with a token check (deploy scripts probe it): 401 without a valid token."""
    return SignedInHealth(username=user.username)
