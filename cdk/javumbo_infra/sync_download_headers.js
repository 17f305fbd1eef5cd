// CloudFront Function (viewer response) of the sync downloads distribution.
// Anki's client accepts a sync answer only with an `anki-original-size` header (the
// body's size before zstd); S3 sends the object's metadata as
// `x-amz-meta-anki-original-size` (storage/transfers.py: SyncDownloads). Copy it.
function handler(event) {
    var response = event.response;
    var size = response.headers['x-amz-meta-anki-original-size'];
    if (response.statusCode === 200 && size && /^[0-9]+$/.test(size.value)) {
        response.headers['anki-original-size'] = { value: size.value };
    }
    return response;
}
