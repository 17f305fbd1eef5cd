"""The CDN for full sync downloads too large for an API answer (sync_downloads.py):
an origin the app's signed URLs are valid for, the query string passed through, nothing
cached or recompressed, the header function on every answer, and its address handed to
the function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from aws_cdk.assertions import Template

from javumbo_infra.sync_downloads import FUNCTION_CODE
from storage.s3 import make_presign_client
from tests.cdk import helpers

# AWS's managed "CachingDisabled" cache policy.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


@pytest.fixture(scope="module")
def distribution(template: Template) -> dict[str, Any]:
    _, resource = helpers.only(template.find_resources("AWS::CloudFront::Distribution"))
    return dict(resource["Properties"]["DistributionConfig"])


def _resolve(value: Any, refs: dict[str, str]) -> str:
    """A template string (Ref, Fn::Join of strings and Refs) with the given values."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return refs[value["Ref"]]
    separator, parts = value["Fn::Join"]
    return str(separator).join(_resolve(part, refs) for part in parts)


def test_the_origin_is_the_host_the_app_signs_for(
    template: Template, distribution: dict[str, Any]
) -> None:
    bucket_id, _ = helpers.collections_bucket(template)
    (origin,) = distribution["Origins"]
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    host = _resolve(origin["DomainName"], {bucket_id: "learners", "AWS::Region": "eu-west-1"})
    signer = make_presign_client(region="eu-west-1", endpoint_url=None)
    signed = signer.generate_presigned_url(
        "get_object", Params={"Bucket": "learners", "Key": "sync_downloads/a/b.zst"}
    )
    # S3 checks the signature against the host it is reached at: the origin's.
    assert urlsplit(signed).netloc == host == "learners.s3.eu-west-1.amazonaws.com"
    assert "X-Amz-SignedHeaders=host" in signed


def test_only_gets_pass_through_uncached_with_their_query(
    template: Template, distribution: dict[str, Any]
) -> None:
    behavior = distribution["DefaultCacheBehavior"]
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["Compress"] is False
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    _, policy = helpers.only(template.find_resources("AWS::CloudFront::OriginRequestPolicy"))
    config = policy["Properties"]["OriginRequestPolicyConfig"]
    assert config["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    # No viewer header reaches S3 (the Host stays the origin's, which the URL is signed for).
    assert config["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert config["CookiesConfig"] == {"CookieBehavior": "none"}


def test_the_header_function_runs_on_every_answer(
    template: Template, distribution: dict[str, Any]
) -> None:
    function_id, function = helpers.only(template.find_resources("AWS::CloudFront::Function"))
    assert function["Properties"]["FunctionCode"] == FUNCTION_CODE.read_text()
    assert function["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    (association,) = distribution["DefaultCacheBehavior"]["FunctionAssociations"]
    assert association["EventType"] == "viewer-response"
    assert association["FunctionARN"] == {"Fn::GetAtt": [function_id, "FunctionARN"]}


def test_the_function_is_told_the_cdn_address(template: Template) -> None:
    distribution_id, _ = helpers.only(template.find_resources("AWS::CloudFront::Distribution"))
    _, fn = helpers.function(template)
    url = fn["Properties"]["Environment"]["Variables"]["JAVUMBO_SYNC_DOWNLOAD_URL"]
    assert url == {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}]]}
    assert template.find_outputs("SyncDownloadsUrl")


def test_an_account_without_cloudfront_can_leave_it_out(
    template_with: Callable[[dict[str, Any]], Template],
) -> None:
    template = template_with({"javumbo:syncDownloadsCdn": "false"})
    template.resource_count_is("AWS::CloudFront::Distribution", 0)
    template.resource_count_is("AWS::CloudFront::Function", 0)
    _, fn = helpers.function(template)
    assert "JAVUMBO_SYNC_DOWNLOAD_URL" not in fn["Properties"]["Environment"]["Variables"]
