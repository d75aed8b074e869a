"""Settings: config/default.toml, then environment variables of the same name."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

from server.core.files import private_dir, tighten

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def _coerce(raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    return raw


def apply_defaults(config: dict[str, Any], defaults: dict[str, Any]) -> None:
    """A feature's own settings: keep what config has, else the environment, else the default."""
    for key, default in defaults.items():
        if key in config:
            continue
        raw = os.environ.get(key)
        config[key] = _coerce(raw, default) if raw not in (None, "") else default


def load_settings(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read defaults, apply environment overrides, then fill embedded defaults."""
    with open(CONFIG_DIR / "default.toml", "rb") as fh:
        settings: dict[str, Any] = tomllib.load(fh)
    for key, value in list(settings.items()):
        if key in os.environ:
            settings[key] = _coerce(os.environ[key], value)
    for key in ("REDIS_CLUSTER_NODES",):
        if os.environ.get(key):
            settings[key] = os.environ[key]
    settings.update(overrides or {})

    instance = Path(instance_path)
    if not settings["DATABASE_URL"]:
        private_dir(instance)
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'pingyi.sqlite3'}"
    if not settings["SECRET_KEY"]:
        if not settings["DATABASE_URL"].startswith("sqlite"):
            # Several hosts would each invent a key and sessions would work on one only.
            raise RuntimeError("SECRET_KEY must be set when DATABASE_URL is not the embedded "
                               "SQLite (every web host needs the same key)")
        settings["SECRET_KEY"] = _instance_secret(instance)
    if not settings["FORMS_DIR"]:
        settings["FORMS_DIR"] = str(CONFIG_DIR / "forms")
    return settings


def _instance_secret(instance: Path) -> str:
    """A per-installation random key, so a dev setup never runs on a known key."""
    private_dir(instance)
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    tighten(path)  # one written by an earlier release
    return path.read_text().strip()
