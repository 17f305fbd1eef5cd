"""The signed-in learner's account."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import AccountsDep, CollectionDep, CurrentUser
from api.routes._responses import SIGNED_IN
from api.schemas.accounts import ChangePasswordRequest, DeleteAccountRequest, TokenOut, UserOut

router = APIRouter(prefix="/api/me", tags=["account"], responses=SIGNED_IN)


@router.get("")
def me(user: CurrentUser) -> UserOut:
    return UserOut(username=user.username, name=user.name)


@router.put("/password")
def change_password(
    body: ChangePasswordRequest, user: CurrentUser, accounts: AccountsDep
) -> TokenOut:
    """Change the password. Every earlier token is refused from now on; use the new one."""
    session = accounts.change_password(user, body.current_password, body.new_password)
    return TokenOut(
        access_token=session.access_token, username=session.user.username, name=session.user.name
    )


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def delete_account(
    body: DeleteAccountRequest, user: CurrentUser, accounts: AccountsDep, collection: CollectionDep
) -> Response:
    """Delete the account and its collection, for good."""
    accounts.check_password(user, body.password)
    # Order matters: refuse tokens first (no request can re-create the collection),
    # then remove the collection, and the user last, so that a failure part-way
    # never leaves a collection without its owner.
    accounts.revoke_all_tokens(user)
    collection.delete()
    accounts.delete(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
