"""The collections bucket's layout: one definition for the app and the stack.

The app writes under these prefixes, and the CDK stack (cdk/javumbo_infra/names.py)
grants the function these prefixes and no others and expires the scratch ones, so a
prefix renamed here is renamed in the function's permissions too.
"""

from __future__ import annotations

from typing import Final

from storage import keys as storage_keys

# One Anki collection per learner: `user_dbs/{username}.anki2` (api/user_collection.py).
PREFIX_COLLECTIONS: Final = "user_dbs/"
# The page logs of the collections (docs/storage.md), written by storage/session.py,
# which owns their names: entries are deleted once folded into the collection object.
PREFIX_LOGS: Final = storage_keys.PREFIX_LOGS
# Learners' media files: `user_media/{learner}/` (api/media.py), laid out by storage/media.py.
PREFIX_MEDIA: Final = "user_media/"
# Scratch objects, kept at most a day: presigned package uploads and large exports,
# written by storage/transfers.py, which owns their names.
PREFIX_UPLOADS: Final = storage_keys.PREFIX_UPLOADS
PREFIX_EXPORTS: Final = storage_keys.PREFIX_EXPORTS
# Full sync downloads too large for one answer (api/routes/sync.py), written by
# storage/transfers.py: scratch kept at most a day.
PREFIX_SYNC_DOWNLOADS: Final = storage_keys.PREFIX_SYNC_DOWNLOADS
# A normal sync's calls from the client, staged until it finishes (api/sync/normal.py):
# `sync_staging/{learner}/{sync}/{seq}`, scratch kept at most a day.
PREFIX_SYNC_STAGING: Final = "sync_staging/"
