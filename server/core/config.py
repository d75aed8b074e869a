"""The app's settings: the one settings object (server/core/settings.py), then what
only the instance folder can tell (the embedded database, a per-install key)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from server.core.files import private_dir, tighten
from server.core.settings import Settings, SettingsError, read_settings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def load_settings(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every setting for app.config: the environment, `overrides` taking precedence
    (tests; keys that are not settings pass through as they are), then the defaults
    worked out from the instance folder."""
    overrides = dict(overrides or {})
    known = {key: overrides.pop(key) for key in list(overrides) if key in Settings.model_fields}
    settings = read_settings(**known).model_dump()
    settings.update(overrides)

    instance = Path(instance_path)
    if not settings["DATABASE_URL"]:
        private_dir(instance)
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'pingyi.sqlite3'}"
    if not settings["SECRET_KEY"]:
        if not settings["DATABASE_URL"].startswith("sqlite"):
            # Several hosts would each invent a key and sessions would work on one only.
            raise SettingsError("SECRET_KEY must be set when DATABASE_URL is not the embedded "
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
