"""Dataset problems: one `DatasetIssue` per problem, built only by the constructors below.

Each constructor is one row of the seed's failureReason table (spec §1.7), or one of
tuneyard's own additions (spec §7), so that no message is ever spelled twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "FILE_ENCODING",
    "FILE_ERROR",
    "FILE_EXTENSION",
    "FILE_FORMAT",
    "FILE_NOEXIST",
    "FILE_SIZE",
    "DatasetIssue",
    "bad_encoding",
    "bad_extension",
    "bad_value",
    "column_order",
    "duplicate_column",
    "format_bytes",
    "invalid_csv",
    "invalid_example",
    "invalid_json",
    "line_too_long",
    "missing_column",
    "missing_file",
    "read_error",
    "row_too_long",
    "too_few_examples",
    "too_few_rows",
    "too_large",
    "unexpected_column",
    "unknown_format",
]

FILE_EXTENSION = "file.extension"
FILE_SIZE = "file.size"
FILE_ENCODING = "file.encoding"
FILE_FORMAT = "file.format"
FILE_ERROR = "file.error"
FILE_NOEXIST = "file.noexist"

_UNITS = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetIssue:
    """One problem in a dataset file: the seed's failureReason, its message, and where.

    `kind` is the vendor-neutral problem key of a JSON Lines chat, preference or text
    dataset (OpenAI's cookbook names where they exist: "unrecognized_role",
    "invalid_n_examples", …), which a dialect maps onto its vendor's error; None otherwise.
    """

    reason: str
    message: str
    line: int | None = None
    field: str | None = None
    kind: str | None = None

    def describe(self) -> str:
        """Human-readable form, e.g. "line 7, C_ID: Invalid dataset: C_ID"."""
        where = [f"line {self.line}"] if self.line is not None else []
        where += [self.field] if self.field is not None else []
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; `kind` is left out when it is None."""
        data = dataclasses.asdict(self)
        if self.kind is None:
            del data["kind"]
        return data


def format_bytes(n: int) -> str:
    """A byte count in decimal units, as the seed's size message shows it: 1_500_000 -> "1.5MB"."""
    for unit, size in _UNITS:
        if n >= size:
            return f"{n / size:.2f}".rstrip("0").rstrip(".") + unit
    return f"{n}B"


def bad_extension() -> DatasetIssue:
    """file.extension: the client's file name does not end in .csv, .jsonl or .json."""
    return DatasetIssue(
        FILE_EXTENSION, "Unavailable file extension. Please check the file extension again."
    )


def too_large(limit: int) -> DatasetIssue:
    """file.size: the file is bigger than `limit` bytes."""
    message = "Exceeded the disk usage limit. Please check if the file size is {} or less."
    return DatasetIssue(FILE_SIZE, message.format(format_bytes(limit)))


def bad_encoding(line: int) -> DatasetIssue:
    """file.encoding: the bytes at `line` are not UTF-8 (with or without a BOM)."""
    return DatasetIssue(FILE_ENCODING, "Unsupported charset", line)


def invalid_json(line: int, reason: str) -> DatasetIssue:
    """file.format: a JSON Lines line that is not one JSON object."""
    return DatasetIssue(FILE_FORMAT, f"Invalid json format. line {line}: {reason}", line)


def invalid_example(kind: str, line: int | None, field: str | None = None) -> DatasetIssue:
    """file.format (tuneyard's own): a chat/preference/text record breaks rule `kind`.

    The message spells the kind out: "Invalid dataset: unrecognized role. messages[2].role".
    """
    message = f"Invalid dataset: {kind.replace('_', ' ')}"
    message += f". {field}" if field else ""
    return DatasetIssue(FILE_FORMAT, message, line, field, kind)


def too_few_examples(minimum: int, count: int) -> DatasetIssue:
    """file.format (tuneyard's own): fewer JSON Lines examples than the minimum."""
    message = f"Invalid dataset: at least {minimum} examples are required, found {count}."
    return DatasetIssue(FILE_FORMAT, message, kind="invalid_n_examples")


def unknown_format(line: int | None) -> DatasetIssue:
    """file.format (tuneyard's own): the first record matches no known dataset format."""
    return DatasetIssue(FILE_FORMAT, "Invalid dataset: unknown format", line, kind="unknown_format")


def invalid_csv(line: int, reason: str) -> DatasetIssue:
    """file.format (tuneyard's own): a CSV record the csv module cannot parse."""
    return DatasetIssue(FILE_FORMAT, f"Invalid csv format. line {line}: {reason}", line)


def missing_column(column: str, line: int) -> DatasetIssue:
    """file.format: a required column is missing, or its cell is empty."""
    message = f"Invalid dataset: required field empty. {column}"
    return DatasetIssue(FILE_FORMAT, message, line, column)


def unexpected_column(column: str, line: int) -> DatasetIssue:
    """file.format: a column (or JSON key) that CLOVA datasets do not have."""
    message = f"Invalid dataset: unexpected column. {column}"
    return DatasetIssue(FILE_FORMAT, message, line, column)


def duplicate_column(column: str, line: int) -> DatasetIssue:
    """file.format: a column named twice (names compare case-insensitively)."""
    message = f"Invalid dataset: duplicate columns. {column}"
    return DatasetIssue(FILE_FORMAT, message, line, column)


def column_order(line: int) -> DatasetIssue:
    """file.format: the columns are not in System_Prompt, C_ID, T_ID, Text, Completion order."""
    return DatasetIssue(FILE_FORMAT, "Invalid dataset: column order", line)


def bad_value(column: str, line: int) -> DatasetIssue:
    """file.format: an invalid cell, e.g. a C_ID/T_ID that breaks the 0, 1, 2, … sequence."""
    return DatasetIssue(FILE_FORMAT, f"Invalid dataset: {column}", line, column)


def too_many_labels(maximum: int, count: int) -> DatasetIssue:
    """file.format (tuneyard's own): a CLASSIFICATION dataset has too many labels."""
    message = f"Invalid dataset: too many labels. {count} labels, at most {maximum}"
    return DatasetIssue(FILE_FORMAT, message, kind="too_many_labels")


def rare_label(label: str, minimum: int, count: int) -> DatasetIssue:
    """file.format (tuneyard's own): a CLASSIFICATION label has too few examples."""
    message = (
        f"Invalid dataset: too few rows for label {label[:64]}. {count} rows, at least {minimum}"
    )
    return DatasetIssue(FILE_FORMAT, message, field="Completion", kind="rare_label")


def too_few_rows(minimum: int, count: int) -> DatasetIssue:
    """file.format (tuneyard's own, spec §7): fewer data rows than the minimum."""
    message = f"Invalid dataset: at least {minimum} rows are required, found {count}."
    return DatasetIssue(FILE_FORMAT, message)


def row_too_long(column: str, line: int) -> DatasetIssue:
    """file.format (tuneyard's own): Text plus Completion is longer than the limit."""
    message = f"Invalid dataset: row too long. {column}"
    return DatasetIssue(FILE_FORMAT, message, line, column)


def line_too_long(line: int, limit: int) -> DatasetIssue:
    """file.format (tuneyard's own): a physical line longer than `limit` bytes; it is skipped."""
    message = f"Invalid dataset: line longer than {format_bytes(limit)}."
    return DatasetIssue(FILE_FORMAT, message, line)


def read_error(detail: str) -> DatasetIssue:
    """file.error: the operating system failed to read the file."""
    return DatasetIssue(FILE_ERROR, f"File read error: {detail}")


def missing_file() -> DatasetIssue:
    """file.noexist: there is no file at the stored path."""
    return DatasetIssue(FILE_NOEXIST, "The dataset file does not exist.")
