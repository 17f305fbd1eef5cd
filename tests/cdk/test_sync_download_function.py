"""The sync downloads CDN's CloudFront Function (sync_download_headers.js), run in V8
with CloudFront's viewer-response event: it adds Anki's `anki-original-size` to a
successful answer from the object's metadata, and to nothing else."""

from __future__ import annotations

import pytest

from tests.support.cdn import ViewerResponseFunction

META = "x-amz-meta-anki-original-size"


@pytest.fixture(scope="module")
def function() -> ViewerResponseFunction:
    return ViewerResponseFunction()


def test_a_download_gets_its_original_size(function: ViewerResponseFunction) -> None:
    status, headers = function(200, {META: "1048576", "Content-Type": "application/octet-stream"})
    assert status == 200
    assert headers["anki-original-size"] == "1048576"
    assert headers["content-type"] == "application/octet-stream"  # the rest unchanged


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (403, {META: "10"}),  # an expired or forged URL: S3's refusal stays a refusal
        (404, {}),
        (200, {}),  # not a sync download
        (200, {META: "10; evil"}),
        (200, {META: ""}),
    ],
)
def test_nothing_else_gets_a_size(
    function: ViewerResponseFunction, status: int, headers: dict[str, str]
) -> None:
    answered, out = function(status, headers)
    assert answered == status
    assert "anki-original-size" not in out
