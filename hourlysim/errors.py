"""The one exception type for bad input, shared by every loader and validator."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: names the file, the row or column, and what was expected.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file : str, optional
        The file (or scenario field) the problem was found in.
    row : object, optional
        The offending row (1-based data row number, or a key value).
    column : str, optional
        The offending column.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: object | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        where = []
        if file is not None:
            where.append(f"{file}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
