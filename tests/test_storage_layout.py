"""A database keeps the bucket size it was made with, whatever a later process is given."""

import logging

import pytest

from models import ChatBucket
from models.layout import CHAT_BUCKETS_LAYOUT, StorageLayout
from service.settings import Settings
from service.storage_layout import LEGACY_BUCKET_SIZE, LayoutMismatch, settle_bucket_size
from tests.factories import make_chat_record


def unset_bucket_size(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("SPARRING_BUCKET_SIZE", raising=False)
    settings = Settings()
    assert "bucket_size" not in settings.model_fields_set
    return settings


async def write_bucket(bucket_size: int, record_ids: list[int]) -> None:
    """One stored bucket holding `record_ids`, as a database of `bucket_size` wrote it."""
    bucket_no = record_ids[0] // bucket_size
    await ChatBucket(
        id=f"default|old-run|echo-a|{bucket_no}", workspace="default", session_id="old-run",
        endpoint="echo-a", bucket_no=bucket_no,
        records=[make_chat_record(record_id) for record_id in record_ids],
    ).insert()


class TestNewDatabase:
    async def test_the_configured_size_is_stored_and_kept(self, db, caplog):
        assert await settle_bucket_size(Settings(bucket_size=7)) == 7
        with caplog.at_level(logging.WARNING, logger="service.storage_layout"):
            assert await settle_bucket_size(Settings(bucket_size=50)) == 7
        assert "SPARRING_BUCKET_SIZE=50 is ignored" in caplog.text
        stored = await StorageLayout.get(CHAT_BUCKETS_LAYOUT)
        assert stored is not None and stored.bucket_size == 7

    async def test_the_default_size_is_stored_when_nothing_is_set(self, db, monkeypatch):
        settings = unset_bucket_size(monkeypatch)
        assert await settle_bucket_size(settings) == settings.bucket_size
        stored = await StorageLayout.get(CHAT_BUCKETS_LAYOUT)
        assert stored is not None and stored.bucket_size == settings.bucket_size


class TestDatabaseMadeBeforeLayouts:
    async def test_unset_size_takes_the_old_default(self, db, monkeypatch):
        settings = unset_bucket_size(monkeypatch)
        assert settings.bucket_size != LEGACY_BUCKET_SIZE
        await write_bucket(LEGACY_BUCKET_SIZE, [100, 101, 150])
        assert await settle_bucket_size(settings) == LEGACY_BUCKET_SIZE
        # Stored now: a later process with the new default keeps it.
        assert await settle_bucket_size(settings) == LEGACY_BUCKET_SIZE

    async def test_a_configured_size_that_fits_the_data_is_kept(self, db):
        await write_bucket(7, [14, 15, 20])
        assert await settle_bucket_size(Settings(bucket_size=7)) == 7

    async def test_a_size_that_does_not_fit_the_data_refuses_to_start(self, db, monkeypatch):
        await write_bucket(7, [14, 15, 20])
        with pytest.raises(LayoutMismatch, match="SPARRING_BUCKET_SIZE"):
            await settle_bucket_size(unset_bucket_size(monkeypatch))
        # Nothing stored: the right size can still be given.
        assert await StorageLayout.get(CHAT_BUCKETS_LAYOUT) is None
        assert await settle_bucket_size(Settings(bucket_size=7)) == 7
