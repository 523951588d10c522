"""Configuration: read once from the environment in `create_app`, validated up front.

Every variable of API.md's configuration table is here. A bad value raises
`ConfigError` naming the variable, so start-up fails with one clear line instead of
the first request failing later.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from exercises.catalog import default_catalog_path
from notifications.mail import MAILERS, parse_smtp_url, valid_sender

log = logging.getLogger(__name__)

NOTIFIERS = ("log", "fcm")
RATELIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster")
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
DATA_KEYS_FILE = "data_keys"
DATABASE_FILE = "tandem.sqlite3"
DEFAULT_MAIL_FROM = "tandem@localhost"
DEFAULT_PUBLIC_URL = "http://localhost:8000"
LOG_FORMATS = ("text", "json")
# GET /metrics is behind a bearer token: long enough not to be guessed.
METRICS_TOKEN_MIN_LENGTH = 24


class ConfigError(Exception):
    """A setting is missing or invalid; the message starts with the variable's name."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    """The validated settings of one Tandem instance."""

    instance_path: Path
    database_url: str
    secret_key: str
    data_keys: tuple[str, ...]
    notifier: str
    firebase_credentials: Path | None
    allow_therapist_signup: bool
    ratelimit_enabled: bool
    ratelimit_storage: str
    catalog_path: Path
    # Files in the instance folder the app cannot run without (the default SQLite
    # database, generated secrets); `/readyz` fails when they are gone.
    instance_files: tuple[Path, ...] = ()
    # Email (notifications/mail.py): `log` or `smtp`; links are public_url + page + token.
    mailer: str = "log"
    smtp_url: str | None = field(default=None, repr=False)  # holds a password
    mail_from: str = DEFAULT_MAIL_FROM
    public_url: str = DEFAULT_PUBLIC_URL
    # GET /metrics (server/metrics.py): None means the route answers 404.
    metrics_token: str | None = field(default=None, repr=False)
    log_format: str = "text"
    # psycopg 3 prepares a statement on the server after its 5th run on a connection;
    # behind PgBouncer in transaction mode (before 1.21) the next transaction may get
    # another server connection that has never seen it. 0 turns that off (docs/scaling.md).
    database_prepared_statements: bool = True

    @property
    def uses_redis(self) -> bool:
        return not self.ratelimit_storage.startswith("memory://")


def _flag(variable: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"expected 1 or 0, got {raw!r}")


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    """Read a generated secret, creating it (mode 0600) on first start."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    # O_EXCL: when two processes start at once, one creates and the other reads.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    log.info("generated %s", path)
    return value


def _validate_database_url(variable: str, url: str) -> str:
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            variable, f"not a valid database URL ({exc.__class__.__name__})"
        ) from None
    except NoSuchModuleError:
        raise ConfigError(variable, f"unsupported database {url.split(':', 1)[0]!r}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(variable, "only sqlite and postgresql databases are supported")
    return url


def _validate_data_keys(variable: str, raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if not keys:
        raise ConfigError(variable, "no key given")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                variable,
                f"key {position} is not a valid key (expected 32 url-safe base64-encoded bytes; "
                "make one with `tandem keys generate`)",
            ) from None
    return keys


def _validate_public_url(variable: str, raw: str) -> str:
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(variable, f"not a valid URL: {raw!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, f"expected http(s)://host[:port][/path], got {raw!r}")
    if parts.query or parts.fragment:
        raise ConfigError(variable, "expected no query or fragment")
    return raw.strip().rstrip("/")


def _mail_settings(get: Callable[[str], str | None]) -> dict[str, str | None]:
    """TANDEM_MAILER, TANDEM_SMTP_URL, TANDEM_MAIL_FROM, TANDEM_PUBLIC_URL. A bad SMTP
    URL is named without its password."""
    mailer = (get("TANDEM_MAILER") or "log").strip().lower()
    if mailer not in MAILERS:
        raise ConfigError("TANDEM_MAILER", f"unknown mailer {mailer!r} (expected log or smtp)")
    smtp_url = get("TANDEM_SMTP_URL")
    if smtp_url is not None:
        try:
            parse_smtp_url(smtp_url)
        except ValueError as exc:
            raise ConfigError("TANDEM_SMTP_URL", str(exc)) from None
    elif mailer == "smtp":
        raise ConfigError("TANDEM_SMTP_URL", "required when TANDEM_MAILER=smtp")
    mail_from = (get("TANDEM_MAIL_FROM") or DEFAULT_MAIL_FROM).strip()
    if not valid_sender(mail_from):
        raise ConfigError("TANDEM_MAIL_FROM", f"not an email address: {mail_from!r}")
    public_url = _validate_public_url(
        "TANDEM_PUBLIC_URL", get("TANDEM_PUBLIC_URL") or DEFAULT_PUBLIC_URL
    )
    return {
        "mailer": mailer,
        "smtp_url": smtp_url.strip() if smtp_url else None,
        "mail_from": mail_from,
        "public_url": public_url,
    }


def _observability_settings(get: Callable[[str], str | None]) -> tuple[str | None, str]:
    """TANDEM_METRICS_TOKEN (None: no /metrics) and TANDEM_LOG_FORMAT."""
    token = get("TANDEM_METRICS_TOKEN")
    if token is not None:
        token = token.strip()
        if len(token) < METRICS_TOKEN_MIN_LENGTH:
            raise ConfigError(
                "TANDEM_METRICS_TOKEN",
                f"too short (at least {METRICS_TOKEN_MIN_LENGTH} characters; "
                "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
            )
        if not token.isascii() or not token.isprintable() or " " in token:
            raise ConfigError(
                "TANDEM_METRICS_TOKEN", "expected printable ASCII characters without spaces"
            )
    log_format = (get("TANDEM_LOG_FORMAT") or "text").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError("TANDEM_LOG_FORMAT", f"expected text or json, got {log_format!r}")
    return token, log_format


def load_settings(instance_path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment (or `environ`) and fill generated secrets from the instance."""
    env = dict(os.environ if environ is None else environ)

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value is None or value.strip() else None

    try:
        instance_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            "TANDEM_INSTANCE_PATH", f"cannot create {instance_path}: {exc.strerror}"
        ) from None

    instance_files: list[Path] = []
    database_url = get("TANDEM_DATABASE_URL")
    if not database_url:
        instance_files.append(instance_path / DATABASE_FILE)
        database_url = f"sqlite:///{instance_path / DATABASE_FILE}"
    database_url = _validate_database_url("TANDEM_DATABASE_URL", database_url)

    notifier = (get("TANDEM_NOTIFIER") or "log").strip().lower()
    if notifier not in NOTIFIERS:
        raise ConfigError("TANDEM_NOTIFIER", f"unknown notifier {notifier!r} (expected log or fcm)")
    credentials = get("TANDEM_FIREBASE_CREDENTIALS")
    firebase_credentials = Path(credentials) if credentials else None
    if notifier == "fcm":
        if firebase_credentials is None:
            raise ConfigError("TANDEM_FIREBASE_CREDENTIALS", "required when TANDEM_NOTIFIER=fcm")
        if not firebase_credentials.is_file():
            raise ConfigError(
                "TANDEM_FIREBASE_CREDENTIALS", f"no such file: {firebase_credentials}"
            )

    storage = (get("TANDEM_RATELIMIT_STORAGE") or "memory://").strip()
    scheme = storage.split("://", 1)[0] if "://" in storage else ""
    if scheme not in RATELIMIT_SCHEMES:
        raise ConfigError(
            "TANDEM_RATELIMIT_STORAGE", f"expected memory:// or redis://HOST:PORT, got {storage!r}"
        )

    catalog = get("TANDEM_CATALOG_PATH")
    catalog_path = Path(catalog) if catalog else default_catalog_path()
    if not catalog_path.is_dir():
        raise ConfigError("TANDEM_CATALOG_PATH", f"no such folder: {catalog_path}")

    mail = _mail_settings(get)
    metrics_token, log_format = _observability_settings(get)

    allow_signup = _flag(
        "TANDEM_ALLOW_THERAPIST_SIGNUP", get("TANDEM_ALLOW_THERAPIST_SIGNUP"), True
    )
    ratelimit_enabled = _flag("TANDEM_RATELIMIT_ENABLED", get("TANDEM_RATELIMIT_ENABLED"), True)
    prepared_statements = _flag(
        "TANDEM_DATABASE_PREPARED_STATEMENTS", get("TANDEM_DATABASE_PREPARED_STATEMENTS"), True
    )

    # Secrets last: nothing is generated on disk for a configuration that is refused.
    secret_key = get("TANDEM_SECRET_KEY")
    if not secret_key:
        instance_files.append(instance_path / SECRET_KEY_FILE)
        secret_key = _read_or_create(
            instance_path / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48)
        )
    if len(secret_key) < 16:
        raise ConfigError("TANDEM_SECRET_KEY", "too short (at least 16 characters)")

    raw_keys = get("TANDEM_DATA_KEYS")
    if not raw_keys:
        instance_files.append(instance_path / DATA_KEYS_FILE)
        raw_keys = _read_or_create(
            instance_path / DATA_KEYS_FILE, lambda: Fernet.generate_key().decode()
        )
    data_keys = _validate_data_keys("TANDEM_DATA_KEYS", raw_keys)

    return Settings(
        instance_path=instance_path,
        database_url=database_url,
        secret_key=secret_key,
        data_keys=data_keys,
        notifier=notifier,
        firebase_credentials=firebase_credentials,
        allow_therapist_signup=allow_signup,
        ratelimit_enabled=ratelimit_enabled,
        ratelimit_storage=storage,
        catalog_path=catalog_path,
        instance_files=tuple(instance_files),
        mailer=str(mail["mailer"]),
        smtp_url=mail["smtp_url"],
        mail_from=str(mail["mail_from"]),
        public_url=str(mail["public_url"]),
        metrics_token=metrics_token,
        log_format=log_format,
        database_prepared_statements=prepared_statements,
    )
