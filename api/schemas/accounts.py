"""Request and response bodies of the account routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$"
    ),
    Field(description="3-32 letters, digits, `_`, `.` or `-`; case-insensitive."),
]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    Field(description="How to greet the learner: 1-50 characters."),
]
Password = Annotated[str, Field(min_length=10, max_length=128, description="10-128 characters.")]
# A password being checked, not chosen: any length up to the cap, so that a wrong
# password is "wrong", never "invalid".
GivenPassword = Annotated[str, Field(min_length=1, max_length=128)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    name: DisplayName
    password: Password


# A username being looked up, not chosen: accounts made by the original backend may
# have any 1-20 characters (upper case, spaces, unicode, `@`, `/`), so no pattern here.
LoginUsername = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="As registered. Tried exactly as given (without surrounding spaces), "
        "then in lower case.",
    ),
]


class LoginRequest(BaseModel):
    username: LoginUsername
    password: GivenPassword


class ChangePasswordRequest(BaseModel):
    current_password: GivenPassword = Field(
        validation_alias=AliasChoices("current_password", "currentPassword")
    )
    new_password: Password = Field(validation_alias=AliasChoices("new_password", "newPassword"))


class DeleteAccountRequest(BaseModel):
    password: GivenPassword


class UserOut(BaseModel):
    username: str
    name: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type)
    username: str
    name: str
