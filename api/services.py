"""The concrete objects a request works with, built once per process on first use."""

from __future__ import annotations

from dataclasses import dataclass

from auth.accounts import Accounts
from storage.media import MediaStore
from storage.session import S3SQLiteSession
from storage.transfers import PackageTransfers, SyncDownloads


@dataclass(frozen=True, slots=True)
class Services:
    session: S3SQLiteSession
    accounts: Accounts
    media: MediaStore
    # Presigned transfers of large packages; None on the local backend.
    transfers: PackageTransfers | None = None
    # Full sync downloads too large for one answer; None unless a CDN is configured.
    sync_downloads: SyncDownloads | None = None
