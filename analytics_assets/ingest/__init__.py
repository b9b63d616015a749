"""The ingestion front door (the collector service), its raw log streams and the sensor
that reports their hours as they land."""
