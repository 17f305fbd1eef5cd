"""The devices (Anki clients) logged in to sync as the signed-in learner."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import AccountsDep, CurrentUser
from api.routes._responses import SIGNED_IN, errors
from api.schemas.sync_keys import SyncKeyOut
from auth.accounts import sync_key_id

router = APIRouter(prefix="/api/me/sync-keys", tags=["account"], responses=SIGNED_IN)


@router.get("")
def list_sync_keys(user: CurrentUser, accounts: AccountsDep) -> list[SyncKeyOut]:
    """Every device that can sync as you. A password change logs them all out."""
    return [
        SyncKeyOut(
            id=sync_key_id(key), device=key.device, created=key.created_at, last_used=key.last_used
        )
        for key in accounts.list_sync_keys(user)
    ]


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(_404="You have no sync login with this id"),
)
def revoke_sync_key(key_id: str, user: CurrentUser, accounts: AccountsDep) -> Response:
    """Log one device out: its next sync asks it to log in again."""
    accounts.revoke_sync_key(user, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
