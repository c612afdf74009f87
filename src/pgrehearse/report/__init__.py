"""Reports written from a rehearsal result."""

from pgrehearse.report._summary import (
    SUMMARY_FILE,
    SUMMARY_SCHEMA_VERSION,
    summary_dict,
    write_summary,
)

__all__ = ["SUMMARY_FILE", "SUMMARY_SCHEMA_VERSION", "summary_dict", "write_summary"]
