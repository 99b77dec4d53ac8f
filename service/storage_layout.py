"""The bucket size a database keeps: the one it was made with, whatever a process is given."""

import logging

from pymongo.errors import DuplicateKeyError

from models import ChatBucket
from models.layout import CHAT_BUCKETS_LAYOUT, StorageLayout
from service.settings import Settings

log = logging.getLogger(__name__)

# Every database made before the layout was stored used the setting, whose default was 100.
LEGACY_BUCKET_SIZE = 100


class LayoutMismatch(RuntimeError):
    """The stored chat buckets do not fit the bucket size this database is opened with."""


def _fits(bucket: ChatBucket, bucket_size: int) -> bool:
    return all(
        record.chat_record_id // bucket_size == bucket.bucket_no for record in bucket.records
    )


async def _size_for_unmarked_data(settings: Settings) -> int:
    """A database with no stored layout: new, or made before layouts were stored (with the
    size its processes were configured with, or the old default)."""
    if "bucket_size" in settings.model_fields_set:
        return settings.bucket_size
    if await ChatBucket.find_one() is None:
        return settings.bucket_size
    return LEGACY_BUCKET_SIZE


async def settle_bucket_size(settings: Settings) -> int:
    """The database's bucket size, stored on first use; a configured size that differs is
    ignored with a warning (changing it would lose every record written before)."""
    stored = await StorageLayout.get(CHAT_BUCKETS_LAYOUT)
    if stored is None:
        size = await _size_for_unmarked_data(settings)
        # A bucket past the first holds records whose ids pin the size down.
        sample = await ChatBucket.find_one({"bucket_no": {"$gte": 1}, "records.0": {"$exists": 1}})
        if sample is not None and not _fits(sample, size):
            raise LayoutMismatch(
                f"The chat buckets in this database were not written with {size} records per "
                "bucket: set SPARRING_BUCKET_SIZE to the size the database was made with."
            )
        try:
            await StorageLayout(id=CHAT_BUCKETS_LAYOUT, bucket_size=size).insert()
        except DuplicateKeyError:
            # Another process of the deployment stored it first: its size holds.
            stored = await StorageLayout.get(CHAT_BUCKETS_LAYOUT)
        if stored is None:
            return size
    if "bucket_size" in settings.model_fields_set and settings.bucket_size != stored.bucket_size:
        log.warning(
            "SPARRING_BUCKET_SIZE=%d is ignored: this database keeps %d chat records per "
            "bucket, fixed when it was made.", settings.bucket_size, stored.bucket_size,
        )
    return stored.bucket_size
