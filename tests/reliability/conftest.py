"""Prints the reliability table after the session (also in CI logs)."""

import pytest

from tests.reliability import report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not report.outcomes():
        return
    terminalreporter.section("reliability: faults injected and events accounted for")
    terminalreporter.write_line(report.table())
    report.write_json()
