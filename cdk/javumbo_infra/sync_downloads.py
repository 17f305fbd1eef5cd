"""The CDN that hands out full sync downloads too large for an API answer.

Lambda answers carry about 4.4 MB of compressed data; a larger collection is stored
under `sync_downloads/` and the API answers `/sync/download` with a 303 to a presigned
GET on this distribution (storage/transfers.py: ``SyncDownloads``). Anki's client
follows it, but only accepts an answer with `anki-original-size`, which S3 never
sends: a viewer-response function copies it from the object's metadata.

The origin is the bucket's regional REST host, with the request's query string passed
through unchanged and nothing cached, so S3 checks the presigned signature (signed for
that host, storage/s3.py: ``make_presign_client``) exactly as if the client had come
straight to it. The bucket stays private; no IAM role is involved.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Fn
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from javumbo_infra import nag

FUNCTION_CODE = Path(__file__).with_name("sync_download_headers.js")


def regional_host(bucket: s3.IBucket) -> str:
    """``{bucket}.s3.{region}.amazonaws.com``: the host the app signs download URLs for."""
    return Fn.join("", [bucket.bucket_name, ".s3.", Aws.REGION, ".amazonaws.com"])


class SyncDownloadsCdn(Construct):
    """A CloudFront distribution in front of the bucket, for presigned GETs only."""

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.function = cloudfront.Function(
            self,
            "OriginalSizeHeader",
            code=cloudfront.FunctionCode.from_file(file_path=str(FUNCTION_CODE)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Javumbo: anki-original-size from the object's metadata",
        )
        query_only = cloudfront.OriginRequestPolicy(
            self,
            "PresignedQuery",
            comment="Javumbo: the presigned query string, nothing else",
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            header_behavior=cloudfront.OriginRequestHeaderBehavior.none(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Javumbo: full sync downloads too large for an API answer",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.HttpOrigin(
                    regional_host(bucket),
                    protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                    origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                ),
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=query_only,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                # The body is zstd already, and Anki's client reads it as it is.
                compress=False,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=self.function,
                        event_type=cloudfront.FunctionEventType.VIEWER_RESPONSE,
                    )
                ],
            ),
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        _acknowledge_findings(self.distribution)

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}"


def _acknowledge_findings(distribution: cloudfront.Distribution) -> None:
    reasons = {
        "AwsSolutions-CFR1": "Learners sync from anywhere; a geographic restriction would "
        "lock travelling learners out of their own collection.",
        "AwsSolutions-CFR2": "Every request must carry a valid presigned S3 signature, which "
        "S3 checks; there is nothing else to serve and nothing a WAF rule would add.",
        "AwsSolutions-CFR3": "S3 server access logs (the access-log bucket) already record "
        "every GET that reaches the bucket; CloudFront's standard logs need bucket ACLs, "
        "which this stack's buckets disable.",
        "AwsSolutions-CFR4": "The distribution uses its default cloudfront.net certificate "
        "(no custom domain), for which CloudFront fixes the TLS policy.",
    }
    for rule, reason in reasons.items():
        nag.acknowledge(distribution, rule, reason)
