"""Journal adapters: ``FileJournal`` (embedded, segmented files with group commit)."""

from rialto.runtime.journal import Journal, JournalError, JournalRecord

from .file import DEFAULT_SEGMENT_BYTES, FileJournal, RecoveryReport

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "FileJournal",
    "Journal",
    "JournalError",
    "JournalRecord",
    "RecoveryReport",
]
