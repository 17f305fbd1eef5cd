"""The API function: FastAPI behind Mangum, with exactly the permissions it uses."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from javumbo_infra import nag, names
from javumbo_infra.settings import StackSettings

# Pinned, not "latest": the bundle's wheels are built for this interpreter, and moving to
# a new Python is a tested change, not a side effect of upgrading aws-cdk-lib.
RUNTIME = lambda_.Runtime.PYTHON_3_13
# HTTP APIs give up on an integration after 30 s; stop just before so the error is ours.
TIMEOUT = Duration.seconds(29)
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")  # GetObject covers HEAD
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)


def _environment(
    settings: StackSettings,
    *,
    bucket: s3.IBucket,
    users_table: dynamodb.ITable,
    auth_table: dynamodb.ITable,
    signing_secret: secretsmanager.ISecret,
    sync_download_url: str | None,
) -> dict[str, str]:
    """The app's settings (api/core/config.py), pointing at this stack's resources."""
    cdn = {} if sync_download_url is None else {names.ENV_SYNC_DOWNLOAD_URL: sync_download_url}
    return {
        names.ENV_BACKEND: "aws",
        names.ENV_BUCKET: bucket.bucket_name,
        names.ENV_USERS_TABLE: users_table.table_name,
        names.ENV_AUTH_TABLE: auth_table.table_name,
        names.ENV_JWT_SECRET_ARN: signing_secret.secret_arn,
        names.ENV_CACHE_DIR: names.CACHE_DIR,
        names.ENV_CACHE_MAX_BYTES: str(settings.cache_max_bytes),
        **cdn,
        **_bundled_files(settings),
    }


def _bundled_files(settings: StackSettings) -> dict[str, str]:
    """Where the function finds the extras bundled with it (javumbo_infra/bundling.py)."""
    found = {}
    if settings.web_dir_in_function is not None:
        found[names.ENV_WEB_DIR] = settings.web_dir_in_function
    if settings.starter_deck_in_function is not None:
        found[names.ENV_STARTER_DECK] = settings.starter_deck_in_function
    return found


class ApiFunction(Construct):
    """The Lambda function, its log group and a role limited to what the app calls (or,
    in a restricted account, the existing role it is given)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        settings: StackSettings,
        bucket: s3.Bucket,
        users_table: dynamodb.ITable,
        auth_table: dynamodb.ITable,
        signing_secret: secretsmanager.ISecret,
        sync_download_url: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        if settings.existing_role_arn is None:
            self.role: iam.IRole = self._own_role(
                bucket=bucket,
                users_table=users_table,
                auth_table=auth_table,
                signing_secret=signing_secret,
            )
        else:
            self.role = self._existing_role(settings.existing_role_arn)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Javumbo API (FastAPI through Mangum)",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=names.HANDLER,
            code=code,
            role=self.role,
            memory_size=settings.memory_mib,
            ephemeral_storage_size=Size.mebibytes(settings.ephemeral_storage_mib),
            timeout=TIMEOUT,
            reserved_concurrent_executions=settings.reserved_concurrency,
            log_group=self.log_group,
            environment=_environment(
                settings,
                bucket=bucket,
                users_table=users_table,
                auth_table=auth_table,
                signing_secret=signing_secret,
                sync_download_url=sync_download_url,
            ),
        )
        nag.acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"The runtime is pinned to {RUNTIME.name} on purpose: the bundled wheels are built "
            "for it and the code is tested on it; moving to a newer Python is a reviewed "
            "change of RUNTIME in cdk/javumbo_infra/function.py.",
        )

    def _own_role(
        self,
        *,
        bucket: s3.Bucket,
        users_table: dynamodb.ITable,
        auth_table: dynamodb.ITable,
        signing_secret: secretsmanager.ISecret,
    ) -> iam.Role:
        """A role granting exactly what the app calls, on this stack's resources.

        An explicit role instead of the default one with AWSLambdaBasicExecutionRole:
        the function writes to its own log group and nowhere else.
        """
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Javumbo API function: its log group, collection objects, two tables.",
        )
        self.log_group.grant_write(role)
        for statement in _object_and_table_statements(bucket, users_table, auth_table):
            role.add_to_policy(statement)
        signing_secret.grant_read(role)
        _acknowledge_object_prefixes(role, bucket)
        return role

    def _existing_role(self, role_arn: str) -> iam.IRole:
        """The role a restricted account provides, used as it is.

        Restricted accounts (AWS Academy's Learner Lab and the like) may not create IAM
        roles or policies and provide a role to use instead; its permissions are what they
        are, so nothing is granted to it. Not even through grants, which are no-ops on an
        immutable role but would add resource policies to the secret and the log group
        instead: the stack's account is unknown at synth time, so the role looks as if it
        were another account's.
        """
        return iam.Role.from_role_arn(self, "Role", role_arn, mutable=False)


def _object_and_table_statements(
    bucket: s3.IBucket, users_table: dynamodb.ITable, auth_table: dynamodb.ITable
) -> list[iam.PolicyStatement]:
    """The collection objects under the app's prefixes, and the items of both tables."""
    return [
        iam.PolicyStatement(
            sid="CollectionObjects",
            actions=list(OBJECT_ACTIONS),
            resources=[bucket.arn_for_objects(f"{p}*") for p in names.OBJECT_PREFIXES],
        ),
        # Without ListBucket, S3 answers a GET of a missing key with 403 instead of 404:
        # the app would report a missing collection as an outage (503), and the log
        # reader, which learns it is at the end of a collection's page log when entry N+1
        # is "not found", could not tell the end of the log from a refusal. Compaction
        # also lists a collection's log to delete the entries folded into the snapshot.
        # No s3:prefix condition: a GET carries no prefix, and S3 does not document that
        # a prefix-scoped grant turns its missing keys into 404s; a warm read that got a
        # 403 would be an outage. Listing reveals key names only, which the function can
        # read anyway (docs/storage.md).
        iam.PolicyStatement(
            sid="MissingKeysAre404",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
        ),
        iam.PolicyStatement(
            sid="UserAndAuthItems",
            actions=list(TABLE_ACTIONS),
            resources=[users_table.table_arn, auth_table.table_arn],
        ),
    ]


def _acknowledge_object_prefixes(role: iam.Role, bucket: s3.Bucket) -> None:
    """cdk-nag's wildcard findings for the object prefixes, each with its reason."""
    for prefix in names.OBJECT_PREFIXES:
        nag.acknowledge(
            role,
            nag.object_wildcard_finding(bucket, prefix),
            f"Object keys under {prefix} are per learner (the learner's name or collection "
            "key follows the prefix), so the function needs the prefix; the actions are "
            "limited to Get/Put/DeleteObject and the prefixes to the "
            f"{len(names.OBJECT_PREFIXES)} the app uses.",
        )
