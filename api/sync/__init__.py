"""Anki's sync protocol (version 11): the envelope, host keys, and full sync.

Every call is ``POST /sync/{method}`` (or ``/msync/{method}`` for media) with an
``anki-sync`` header and a zstd-compressed body; successes are zstd-compressed with
``anki-original-size``, errors plain text with the status the client understands.
"""
