"""Where the storage layer itself writes in the bucket: the page logs of collections
(storage/session.py, docs/storage.md) and the scratch prefixes of package transfers and
large sync downloads (storage/transfers.py). The app's names (api/core/names.py) and so the CDK
stack's grants and expiry rules take them from here."""

from __future__ import annotations

from typing import Final

PREFIX_UPLOADS: Final = "uploads/"
PREFIX_EXPORTS: Final = "exports/"
# Full sync downloads too large for one Lambda answer, fetched through a presigned GET.
PREFIX_SYNC_DOWNLOADS: Final = "sync_downloads/"
# Log entries of a collection stored under key K: `logs/K/{log-id}/{seq:016d}`.
PREFIX_LOGS: Final = "logs/"
