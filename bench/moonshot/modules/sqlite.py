"""Moonshot's `sqlite` database module, written for the benchmarks (its own lives in moonshot-data).

Moonshot loads this file by path on every connection it opens. It behaves as Moonshot's module
does: one connection per runner database, and every write committed on its own.
"""

import sqlite3
from pathlib import Path

from moonshot.src.storage.db_interface import DBInterface
from moonshot.src.utils.log import configure_logger

logger = configure_logger(__name__)


class SQLite(DBInterface):
    def __init__(self, db_path: Path | str) -> None:
        self.db_path = str(db_path)
        self.connection: sqlite3.Connection | None = None

    def create_connection(self) -> bool:
        try:
            self.connection = sqlite3.connect(self.db_path)
        except sqlite3.Error as error:
            logger.error(f"[SQLite] Cannot open {self.db_path}: {error}")
            return False
        return True

    def close_connection(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def create_table(self, create_table_sql: str) -> None:
        self._write(create_table_sql, ())

    def create_record(self, record: tuple, create_record_sql: str) -> tuple | None:
        if self.connection is None:
            return None
        try:
            with self.connection:
                cursor = self.connection.execute(create_record_sql, record)
        except sqlite3.Error as error:
            logger.error(f"[SQLite] Cannot insert into {self.db_path}: {error}")
            return None
        return (cursor.lastrowid, *record)

    def read_record(self, record: tuple, read_record_sql: str) -> tuple | None:
        rows = self._read(read_record_sql, record)
        return rows[0] if rows else None

    def read_records(self, read_records_sql: str) -> list[tuple] | None:
        return self._read(read_records_sql, ())

    def update_record(self, record: tuple, update_record_sql: str) -> None:
        self._write(update_record_sql, record)

    def delete_records_in_table(self, delete_record_sql: str) -> None:
        self._write(delete_record_sql, ())

    def check_database_table_exists(self, table_name: str) -> bool | None:
        rows = self._read(
            "SELECT name FROM sqlite_master WHERE type='table' AND name=?", (table_name,)
        )
        return None if rows is None else bool(rows)

    def delete_database_table(self, delete_table_sql: str) -> None:
        self._write(delete_table_sql, ())

    def _write(self, sql: str, parameters: tuple) -> None:
        if self.connection is None:
            return
        try:
            with self.connection:
                self.connection.execute(sql, parameters)
        except sqlite3.Error as error:
            logger.error(f"[SQLite] Cannot write to {self.db_path}: {error}")

    def _read(self, sql: str, parameters: tuple) -> list[tuple] | None:
        if self.connection is None:
            return None
        try:
            return self.connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            logger.error(f"[SQLite] Cannot read {self.db_path}: {error}")
            return None
