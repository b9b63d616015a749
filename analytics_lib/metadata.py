"""Small renderers for Dagster UI metadata."""

import polars as pl


def markdown_table(frame: pl.DataFrame) -> str:
    """A polars frame as a Markdown table (rendered by `MetadataValue.md`)."""
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "".join(
        "| " + " | ".join(str(value) for value in row) + " |\n" for row in frame.iter_rows()
    )
