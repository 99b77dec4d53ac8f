"""Counting the records of an export as its bytes stream past, for a progress bar.

JSONL and JSON exports hold one record per line; the first line is the session's metadata
(JSONL's header line, JSON's opening of the object). CSV fields may hold newlines, so a row
ends only at a newline outside quotes; each complete row is read with the `csv` module.
"""

import codecs
import csv
import io


class RecordCounter:
    """Fed the export's chunks in order; `records` is how many records have passed so far."""

    def __init__(self, export_format: str) -> None:
        self._csv = export_format == "csv"
        self._lines = 0
        self._rows = 0
        # CSV: the text of the row not yet ended, and whether its end is inside quotes.
        self._pending = ""
        self._quoted = False
        # A character may be split between two chunks.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def records(self) -> int:
        # The first line (or row) is the header, not a record.
        return max(0, (self._rows if self._csv else self._lines) - 1)

    def feed(self, chunk: bytes) -> None:
        if not self._csv:
            self._lines += chunk.count(b"\n")
            return
        # Split on newlines only outside quotes (RFC 4180 doubles a quote inside a field, so
        # the parity of quotes seen tells whether a newline ends the row).
        text = self._decoder.decode(chunk)
        start = 0
        for index, char in enumerate(text):
            if char == '"':
                self._quoted = not self._quoted
            elif char == "\n" and not self._quoted:
                self._row(self._pending + text[start : index + 1])
                self._pending = ""
                start = index + 1
        self._pending += text[start:]

    def finish(self) -> None:
        """The stream ended: a last row without a newline counts too."""
        if self._csv and self._pending.strip():
            self._row(self._pending)
            self._pending = ""

    def _row(self, text: str) -> None:
        self._rows += sum(1 for _ in csv.reader(io.StringIO(text)))
