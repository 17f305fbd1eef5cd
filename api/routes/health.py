from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/health")
def health() -> Health:
    """Liveness: answers without touching storage or requiring a token."""
    return Health()
