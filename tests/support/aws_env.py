"""AWS resources on a moto server, and the environment an app needs to use them."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3

from tests.support.moto_server import MotoServer

SIGNING_SECRET = "integration-signing-secret-0123456789abcdef"


def provision(moto: MotoServer, cache_root: Path) -> dict[str, str]:
    """A bucket, both tables and a signing secret; returns the app's environment."""
    suffix = uuid.uuid4().hex[:10]
    kwargs = {"endpoint_url": moto.url, "region_name": "us-east-1"}
    boto3.client("s3", **kwargs).create_bucket(Bucket=f"collections-{suffix}")
    dynamodb = boto3.client("dynamodb", **kwargs)
    for table, key in ((f"users-{suffix}", "username"), (f"auth-{suffix}", "pk")):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    secret_arn = boto3.client("secretsmanager", **kwargs).create_secret(
        Name=f"jwt-{suffix}", SecretString=SIGNING_SECRET
    )["ARN"]
    return {
        "JAVUMBO_BACKEND": "aws",
        "JAVUMBO_BUCKET": f"collections-{suffix}",
        "JAVUMBO_USERS_TABLE": f"users-{suffix}",
        "JAVUMBO_AUTH_TABLE": f"auth-{suffix}",
        "JAVUMBO_JWT_SECRET_ARN": secret_arn,
        "JAVUMBO_CACHE_DIR": str(cache_root / f"cache-{suffix}"),
        "JAVUMBO_BCRYPT_ROUNDS": "4",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
