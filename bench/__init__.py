"""`make bench`: the storage design measured against the naive S3-SQLite pattern.

A development tool, not part of the app: it is not packaged, not in the Lambda bundle,
and imports the test suite's moto server. See docs/benchmarks.md for what it measures.
"""
