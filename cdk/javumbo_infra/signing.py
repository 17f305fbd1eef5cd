"""The token signing secret."""

from __future__ import annotations

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from javumbo_infra import nag

SECRET_LENGTH = 64


class SigningSecret(Construct):
    """A random HS256 key in Secrets Manager; the function reads it once per cold start."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Javumbo: the key that signs and verifies API access tokens (JWT).",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=SECRET_LENGTH,
                exclude_punctuation=True,
                include_space=False,
            ),
        )
        nag.acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "Rotating the JWT signing key invalidates every issued token, i.e. signs every "
            "learner out, and the function caches the key per process. Tokens are "
            "short-lived; rotation is a deliberate operator action documented in the README "
            "(put a new random value, then update the function so new processes load it).",
        )
