"""Secrets out of what people see: URLs are shown in job settings (the Flink UI), check
descriptions and sensor messages, so the password of a URL's userinfo never goes there."""

from urllib.parse import urlsplit, urlunsplit


def without_password(url: str) -> str:
    """`url` without the password of its userinfo (the user name stays): `redis://:pw@h:6379/0`
    → `redis://h:6379/0`, `https://u:pw@h/db` → `https://u@h/db`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))
