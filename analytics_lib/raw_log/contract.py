"""What makes a batch belong to a stream of the raw event log.

Every stream (behaviors, sa_events, dead_letters) is a Parquet dataset bucketed by the
UTC hour of one time column. A batch conforms when it has every required column with a
castable type and no nulls where the contract forbids them; extra columns are ignored,
so producers may add fields before consumers read them.
"""

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa


class NonConformingBatch(ValueError):
    """A batch does not satisfy a stream contract; the message says what to fix."""


@dataclass(frozen=True)
class StreamContract:
    name: str
    schema: pa.Schema
    time_column: str
    extra_checks: tuple[Callable[[pa.Table], None], ...] = field(default=())
    # Tables this contract returned, by id (weakly held): conform is idempotent and tables
    # are immutable, so a table it already returned is returned again without the casts
    # and checks (the collector's behaviors were conformed by the mapping, then by the log).
    _conformed: "weakref.WeakValueDictionary[int, pa.Table]" = field(
        default_factory=weakref.WeakValueDictionary, init=False, repr=False, compare=False
    )

    def conform(self, table: pa.Table) -> pa.Table:
        """Select and cast the contract's columns, in order; raise on anything missing or null."""
        if self._conformed.get(id(table)) is table:
            return table
        present = set(table.column_names)  # `column_names` builds a new list per call
        missing = [f.name for f in self.schema if f.name not in present and not f.nullable]
        if missing:
            raise NonConformingBatch(f"{self.name}: missing required columns {missing}")
        columns = []
        for spec in self.schema:
            if spec.name in present:
                column = table[spec.name]
                try:
                    if column.type != spec.type:
                        column = column.cast(spec.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise NonConformingBatch(
                        f"{self.name}: column {spec.name!r} has type {column.type}, "
                        f"which does not cast to {spec.type}: {exc}"
                    ) from exc
            else:
                column = pa.nulls(table.num_rows, spec.type)
            if not spec.nullable and column.null_count:
                raise NonConformingBatch(
                    f"{self.name}: column {spec.name!r} has {column.null_count} null values"
                )
            columns.append(column)
        conformed = pa.Table.from_arrays(columns, schema=self.schema)
        for check in self.extra_checks:
            check(conformed)
        self._conformed[id(conformed)] = conformed
        return conformed
