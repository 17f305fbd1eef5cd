"""The Javumbo stack: storage, the signing secret, the function, its HTTP API, alarms,
and the CDN for large sync downloads."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from javumbo_infra.alarms import Alarms
from javumbo_infra.bundling import lambda_code
from javumbo_infra.function import RUNTIME, ApiFunction
from javumbo_infra.http_api import HttpEndpoint
from javumbo_infra.settings import StackSettings
from javumbo_infra.signing import SigningSecret
from javumbo_infra.storage import CollectionStorage
from javumbo_infra.sync_downloads import SyncDownloadsCdn

# Behaviour this stack is written against, whatever cdk.json the caller has (tests and
# `python app.py` do not read cdk.json; `cdk synth` does).
FEATURE_FLAGS = {
    # Grant S3 log delivery by bucket policy: new buckets have ACLs disabled.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


class JavumboStack(Stack):
    """Everything Javumbo needs on AWS; the data (bucket, tables) outlives the stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code | None = None,
        settings: StackSettings | None = None,
        **stack_props: Any,
    ) -> None:
        """`code` defaults to the bundled project; `settings` to the ones in CDK context."""
        super().__init__(scope, construct_id, **stack_props)
        for flag, value in FEATURE_FLAGS.items():
            self.node.set_context(flag, value)
        settings = settings or StackSettings.from_context(self.node)
        code = code or lambda_code(
            runtime=RUNTIME, web_dir=settings.web_dir, starter_deck=settings.starter_deck
        )

        self.storage = CollectionStorage(self, "Storage", cors_origins=settings.cors_origins)
        self.signing = SigningSecret(self, "Signing")
        self.sync_downloads = (
            SyncDownloadsCdn(self, "SyncDownloads", bucket=self.storage.bucket)
            if settings.sync_downloads_cdn
            else None
        )
        self.api_function = ApiFunction(
            self,
            "Api",
            code=code,
            settings=settings,
            bucket=self.storage.bucket,
            users_table=self.storage.users_table,
            auth_table=self.storage.auth_table,
            signing_secret=self.signing.secret,
            sync_download_url=self.sync_downloads.url if self.sync_downloads else None,
        )
        self.endpoint = HttpEndpoint(
            self, "Http", function=self.api_function.function, settings=settings
        )
        self.alarms = Alarms(self, "Alarms", settings=settings, http_api=self.endpoint.http_api)

        CfnOutput(self, "ApiUrl", value=self.endpoint.url, description="Base URL of the API")
        CfnOutput(self, "CollectionsBucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "UsersTableName", value=self.storage.users_table.table_name)
        CfnOutput(self, "AuthTableName", value=self.storage.auth_table.table_name)
        CfnOutput(self, "FunctionName", value=self.api_function.function.function_name)
        CfnOutput(self, "SigningSecretArn", value=self.signing.secret.secret_arn)
        if self.sync_downloads is not None:
            CfnOutput(
                self,
                "SyncDownloadsUrl",
                value=self.sync_downloads.url,
                description="CDN that serves full sync downloads too large for the API",
            )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.alarms.topic.topic_arn,
            description="SNS topic notified when an alarm fires or recovers; subscribe to it",
        )
