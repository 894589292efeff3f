"""ExportError: what `scrapy export` and `scrapy report` refuse or fail at, in one line."""

from __future__ import annotations


class ExportError(Exception):
    """Raised by the export and the report for problems a user can fix; str() is one line."""

    def __init__(self, message: str, *, status: int = 2) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status  # 2: refused before writing anything; 1: failed while writing
