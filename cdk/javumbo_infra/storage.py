"""Where the data lives: the collections bucket (plus its access-log bucket) and the tables."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from api.core.cors import CORS_ALLOW_HEADERS
from javumbo_infra import names

ACCESS_LOG_RETENTION = Duration.days(90)
NONCURRENT_VERSION_RETENTION = Duration.days(30)
SCRATCH_RETENTION = Duration.days(1)

# Browsers fetch large exports straight from the bucket: the API answers 303 with a
# presigned GET URL (storage/transfers.py), and the client follows it. A request
# redirected to another origin carries `Origin: null` (the fetch standard's tainted
# origin), so downloads are allowed from any origin: the URL's signature is the
# authorization, and no credentials are involved. The redirected request keeps the
# headers the client sent to the API, so the preflight allows the same ones.
DOWNLOAD_METHODS = (s3.HttpMethods.GET, s3.HttpMethods.HEAD)
DOWNLOAD_EXPOSED_HEADERS = ("Content-Disposition", "Content-Length", "Content-Type", "ETag")
BUCKET_CORS_MAX_AGE_SECONDS = 3000


class CollectionStorage(Construct):
    """Everything here outlives the stack (RETAIN): it is the learners' data."""

    def __init__(
        self, scope: Construct, construct_id: str, *, cors_origins: tuple[str, ...] = ()
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot write to KMS
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_RETENTION)
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Collections",
            versioned=True,  # an operator can restore a collection (README: S3SQLiteSession)
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="collections/",
            cors=_cors_rules(cors_origins),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=NONCURRENT_VERSION_RETENTION,
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                *(
                    s3.LifecycleRule(
                        id=f"expire-{prefix.rstrip('/')}",
                        prefix=prefix,
                        expiration=SCRATCH_RETENTION,
                        noncurrent_version_expiration=SCRATCH_RETENTION,
                    )
                    for prefix in names.SCRATCH_PREFIXES
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.users_table = _table(self, "Users", partition_key=names.USERS_PARTITION_KEY)
        self.auth_table = _table(
            self,
            "AuthState",
            partition_key=names.AUTH_PARTITION_KEY,
            time_to_live_attribute=names.AUTH_TTL_ATTRIBUTE,
        )


def _cors_rules(origins: tuple[str, ...]) -> list[s3.CorsRule]:
    """Presigned downloads from anywhere; presigned uploads from the API's own origins.

    The web client uploads large packages with a PUT to the URL from
    POST /api/import/upload-url; only the origins allowed to call the API may do that.
    """
    rules = [
        s3.CorsRule(
            id="presigned-downloads",
            allowed_methods=list(DOWNLOAD_METHODS),
            allowed_origins=["*"],
            allowed_headers=list(CORS_ALLOW_HEADERS),
            exposed_headers=list(DOWNLOAD_EXPOSED_HEADERS),
            max_age=BUCKET_CORS_MAX_AGE_SECONDS,
        )
    ]
    if origins:
        rules.append(
            s3.CorsRule(
                id="presigned-uploads",
                allowed_methods=[s3.HttpMethods.PUT],
                allowed_origins=list(origins),
                allowed_headers=list(CORS_ALLOW_HEADERS),
                exposed_headers=["ETag"],
                max_age=BUCKET_CORS_MAX_AGE_SECONDS,
            )
        )
    return rules


def _table(
    scope: Construct,
    construct_id: str,
    *,
    partition_key: str,
    time_to_live_attribute: str | None = None,
) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        time_to_live_attribute=time_to_live_attribute,
        removal_policy=RemovalPolicy.RETAIN,
    )
