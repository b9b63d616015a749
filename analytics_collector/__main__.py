"""`python -m analytics_collector`: serve the collector with uvicorn."""

import logging

import uvicorn

from analytics_collector.settings import CollectorSettings, SettingsError


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = CollectorSettings.from_environment()
    except SettingsError as exc:
        raise SystemExit(f"collector: {exc}") from exc
    uvicorn.run(
        "analytics_collector.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
