"""Where alerts go: Slack (dagster-slack's client) and/or a generic JSON webhook.

Both are optional and configured by environment (see `alert_notifier_from_environment`);
with neither, the sensor still tracks incidents and logs them. A delivery that fails raises,
so the sensor keeps the incident pending and retries on its next tick instead of losing it.
The clients are imported when a notification is sent, not at code-location load.
"""

from dagster import ConfigurableResource

from analytics_lib.incidents import Notification


class AlertDeliveryError(RuntimeError):
    """A channel refused or could not take a notification."""


class AlertNotifier(ConfigurableResource):
    slack_token: str = ""
    slack_channel: str = ""
    # Slack's Web API; a local receiver in tests (the client posts to <url>chat.postMessage).
    slack_api_url: str = "https://slack.com/api/"
    webhook_url: str = ""
    timeout_seconds: float = 5.0
    dagster_ui_url: str = "http://127.0.0.1:3000"  # links in the messages

    def channels(self) -> list[str]:
        found = []
        if self.slack_token and self.slack_channel:
            found.append("slack")
        if self.webhook_url:
            found.append("webhook")
        return found

    def send(self, notification: Notification) -> None:
        if "slack" in self.channels():
            from dagster_slack import SlackResource

            client = SlackResource(token=self.slack_token).get_client()
            client.base_url = self.slack_api_url
            client.timeout = int(self.timeout_seconds)
            try:
                response = client.chat_postMessage(
                    channel=self.slack_channel, text=notification.text()
                )
            except Exception as exc:  # slack_sdk raises its own errors and URLErrors
                raise AlertDeliveryError(f"Slack: {exc}") from exc
            if not response.get("ok"):
                raise AlertDeliveryError(f"Slack refused the message: {response.get('error')}")
        if "webhook" in self.channels():
            import httpx

            try:
                httpx.post(
                    self.webhook_url, json=notification.payload(), timeout=self.timeout_seconds
                ).raise_for_status()
            except httpx.HTTPError as exc:
                # httpx quotes the URL in its messages; webhook URLs carry their secret.
                detail = str(exc).replace(self.webhook_url, "<ALERT_WEBHOOK_URL>")
                raise AlertDeliveryError(f"webhook: {detail}") from None
