"""The stream layer's code, shipped to the Flink cluster with every job (`-pyfs`).

Pure logic (reading landed files, per-batch partial aggregates, merges, Redis writes)
lives in modules without PyFlink imports so the project's test suite can check it in
Dagster's environment; `operators.py` and `pipeline.py` wire it into Flink.
"""
