"""Credentials never stored: a URL's user name, password and secret-looking query values replaced by '***'."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = ("key", "api_key", "apikey", "api-key", "token", "access_token", "secret", "password", "sig")


def redact_url(url: str | None) -> str | None:
    """`url` with credentials replaced by '***' (user info, and query values named like keys or tokens)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL we can take apart: keep nothing of it that could be a secret
        return "***"
    netloc = f"***@{host}{port}" if parts.username or parts.password else parts.netloc
    query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_config(obj):
    """A copy of a config (dicts and lists) with every `base_url` value redacted."""
    if isinstance(obj, dict):
        return {k: redact_url(v) if k == "base_url" and isinstance(v, str) else redact_config(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_config(v) for v in obj]
    return obj
