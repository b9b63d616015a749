"""Paimon table writes and maintenance on top of pypaimon: Java Paimon's algorithms, no Dagster.

pypaimon is imported inside the functions that call it (types under `TYPE_CHECKING`):
importing it costs about 1.5 s (it pulls pyarrow.dataset and pandas), which every load of
the Dagster code location would otherwise pay. tests/test_code_location.py guards this.
"""
