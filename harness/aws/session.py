"""The only module that creates boto3 sessions and clients, and the one place that turns
botocore exceptions into user-facing errors.

Credentials come only from boto3's own chain (environment, shared files / --profile,
SSO, instance profile). Nothing here accepts keys as arguments, and every message that
may contain text from AWS passes through `redact` first."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from harness.errors import HarnessError

ENDPOINT_ENV = "HARNESS_AWS_ENDPOINT_URL"
PRICING_REGION = "us-east-1"  # the Price List API is served from us-east-1 (and ap-south-1)

# Env vars whose values must never be printed; their values are redacted wherever they appear.
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")
# Secrets learnt from resolved credentials (e.g. from ~/.aws/credentials), for `redact`.
_known_secrets: set[str] = set()

_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|ABIA|ACCA)[A-Z0-9]{16}\b")
_SECRET_FIELD = re.compile(
    r"(?i)\b(aws_secret_access_key|secret_?access_?key|aws_session_token|session_?token|"
    r"x-amz-security-token|x-amz-signature|x-amz-credential|signature|credential)"
    r"(\"?'?\s*[:=]\s*\"?'?)([^\s\"'&,;}]+)")
REDACTED = "[redacted]"


class AwsError(HarnessError):
    """An AWS request failed; the message is redacted and says what to do."""


class AwsUnavailable(AwsError):
    """AWS cannot be used at all here: boto3 missing, no credentials, no region, no network."""


def redact(text: object, extra: Iterable[str] = ()) -> str:
    """`text` with credential values, access key ids and signed-URL secrets replaced."""
    s = str(text)
    values = {os.environ.get(n) for n in _SECRET_ENV} | _known_secrets | set(extra)
    # Longest first, so a secret containing another is removed whole. Short values are
    # skipped: replacing "a" everywhere would destroy the message and protect nothing.
    for v in sorted((v for v in values if v and len(v) >= 8), key=len, reverse=True):
        s = s.replace(v, REDACTED)
    s = _ACCESS_KEY_ID.sub(REDACTED, s)
    return _SECRET_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", s)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken log call must not break the program
            return True
        record.msg, record.args = redact(msg), None
        if record.exc_info and record.exc_info[1] is not None:
            record.msg += f" ({redact(record.exc_info[1])})"
            record.exc_info = None
        return True


def install_log_redaction(handlers: Optional[Iterable[logging.Handler]] = None) -> None:
    """Add a RedactingFilter to `handlers` (default: the root logger's, and logging's
    last-resort handler used when none is configured). Filters on handlers see records
    from every logger (botocore.*, urllib3.*), unlike filters on a logger."""
    if handlers is None:
        handlers = list(logging.getLogger().handlers) + ([logging.lastResort] if logging.lastResort else [])
    for h in handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())


@dataclass(frozen=True)
class AwsSettings:
    """Where to send requests. `endpoint_url` (or env HARNESS_AWS_ENDPOINT_URL) points every
    client at a local stand-in such as moto's server; None means real AWS."""
    region: Optional[str] = None
    profile: Optional[str] = None
    endpoint_url: Optional[str] = None
    max_attempts: int = 3
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    def resolved_endpoint(self) -> Optional[str]:
        return self.endpoint_url or os.environ.get(ENDPOINT_ENV) or None


def _boto3():
    try:
        import boto3
    except ImportError:
        raise AwsUnavailable("boto3 is not installed; pip install boto3 (or pip install -e '.[dev]')") from None
    return boto3


def make_session(settings: AwsSettings):
    """A boto3 Session for the profile and region; raises AwsUnavailable when the profile
    does not exist or no credentials can be found."""
    boto3 = _boto3()
    import botocore.exceptions as bx

    try:
        session = boto3.Session(profile_name=settings.profile, region_name=settings.region)
        creds = session.get_credentials()
    except bx.ProfileNotFound:
        raise AwsUnavailable(f"AWS profile {settings.profile!r} not found in ~/.aws/config or "
                             f"~/.aws/credentials; run `aws configure --profile {settings.profile}`") from None
    except bx.BotoCoreError as e:
        raise AwsUnavailable(f"cannot load AWS credentials: {redact(e)}") from None
    if creds is None:
        raise AwsUnavailable("no AWS credentials found (environment, ~/.aws/credentials, SSO or instance "
                             "profile); run `aws configure` or `aws sso login`, or pass --profile")
    try:
        frozen = creds.get_frozen_credentials()
    except bx.BotoCoreError as e:  # e.g. an expired SSO token
        raise AwsUnavailable(f"cannot load AWS credentials: {redact(e)}") from None
    for secret in (frozen.secret_key, frozen.token):
        if secret:
            _known_secrets.add(secret)
    return session


def region_of(session, settings: AwsSettings, fallback: Optional[str] = None) -> str:
    region = settings.region or session.region_name or fallback
    if not region:
        raise AwsUnavailable("no AWS region: pass --region (or set AWS_DEFAULT_REGION, or region in ~/.aws/config)")
    return region


def client(service: str, settings: AwsSettings, *, session=None, region: Optional[str] = None):
    """A boto3 client with bounded timeouts and retries (a missing network must fail in
    seconds, not minutes)."""
    from botocore.config import Config

    session = session or make_session(settings)
    cfg = Config(connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s,
                 retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                 user_agent_extra="harness")
    return session.client(service, region_name=region or region_of(session, settings),
                          endpoint_url=settings.resolved_endpoint(), config=cfg)


def pricing_client(settings: AwsSettings, *, session=None):
    return client("pricing", settings, session=session, region=PRICING_REGION)


def describe_error(exc: BaseException) -> str:
    """One redacted line for a botocore/boto3 exception, with a hint where one helps."""
    try:
        import botocore.exceptions as bx
    except ImportError:  # pragma: no cover - only without botocore
        return redact(exc)
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code, msg = err.get("Code", "?"), err.get("Message", "")
        op = getattr(exc, "operation_name", "request")
        hint = ""
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"):
            hint = "; the IAM identity lacks a permission (docs/aws.md lists the actions used)"
        elif code in ("AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
                      "RequestExpired", "UnrecognizedClientException"):
            hint = "; the credentials are invalid or expired"
        return redact(f"{op}: {code}: {_one_line(msg)}{hint}")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return redact(f"AWS endpoint unreachable ({exc}); check the network or proxy settings")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return "no usable AWS credentials; run `aws configure` or pass --profile"
    if isinstance(exc, bx.NoRegionError):
        return "no AWS region; pass --region"
    return redact(f"{type(exc).__name__}: {exc}")


def _one_line(text: str, limit: int = 200) -> str:
    # Some endpoints (proxies, stand-ins) answer errors with an HTML page: keep one short line.
    flat = " ".join(re.sub(r"<[^>]+>", " ", str(text)).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn any botocore/boto3 failure inside the block into an AwsError naming `what`."""
    try:
        yield
    except HarnessError:
        raise
    except Exception as e:
        mod = type(e).__module__ or ""
        if mod.startswith(("botocore", "boto3", "s3transfer", "urllib3")):
            raise AwsError(f"{what}: {describe_error(e)}") from None
        raise
