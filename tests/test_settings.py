"""The one settings object (server/core/settings.py): read from the environment once,
typed, bad values refused at start naming the variable, and the docs' tables
generated from it."""

from __future__ import annotations

import shutil

import pytest

from server.app import create_app
from server.core import settings_docs
from server.core.config import load_settings
from server.core.settings import GROUPS, Settings, SettingsError, read_settings

# The names operators already use (README.md, docs/deploy.md, docs/bot.md,
# docs/miniprogram.md before the settings object): none may be renamed. Retired with the
# one ballot path (#23): PINGYI_SERVER, PINGYI_HEAD/BODY_TIMEOUT_S, TRUSTED_PROXY_HOPS
# (uvicorn reads proxy headers from FORWARDED_ALLOW_IPS), BALLOT_FAST_PATH, TURNOUT_FAST_READ.
KNOWN = """
PINGYI_BIND PINGYI_WORKERS PINGYI_THREADS PINGYI_ACCESS_LOG PINGYI_LOG_LEVEL PINGYI_SWITCH_INTERVAL FORWARDED_ALLOW_IPS
DATABASE_URL DB_POOL_SIZE DB_MAX_OVERFLOW REDIS_URL REDIS_CLUSTER_NODES SECRET_KEY PUBLIC_BASE_URL
K_ANONYMITY TOKEN_CLAIM_TTL_S CLOSE_DRAIN_TIMEOUT_S COMMIT_TIMEOUT_S MAX_CONTENT_LENGTH FORMS_DIR
LOG_LEVEL SESSION_COOKIE_SECURE LOGIN_FAIL_LIMIT LOGIN_FAIL_ADDRESS_LIMIT
LOGIN_FAIL_WINDOW_S TOKEN_GUESS_LIMIT TOKEN_GUESS_WINDOW_S BENCH_ENDPOINTS
WECOM_API_BASE WECOM_CORP_ID WECOM_AGENT_ID WECOM_APP_SECRET WECOM_CALLBACK_TOKEN
WECOM_CALLBACK_AES_KEY BOT_HTTP_TIMEOUT_S BOT_RATE_LIMIT BOT_RATE_WINDOW_S BOT_LEASE_S
BOT_MAX_ATTEMPTS BOT_BACKOFF_BASE_S BOT_BACKOFF_MAX_S BOT_CATCHUP_DAYS BOT_CALLBACK_MAX_SKEW_S
BOT_CARD_MAX_ROWS WECHAT_MINIPROGRAM_APPID WECHAT_MINIPROGRAM_SECRET WECHAT_MINIPROGRAM_API_BASE
WECHAT_MINIPROGRAM_TOKEN_API WECHAT_HTTP_TIMEOUT_S WECHAT_CONTENT_CHECK
WECHAT_CONTENT_REVIEW_BLOCKS MINIPROGRAM_SLIP_PAGE MINIPROGRAM_CLAIM_PAGE MINIPROGRAM_ENV_VERSION
MINIPROGRAM_CHECK_PATH MINIPROGRAM_CODE_WIDTH MINIPROGRAM_MAX_SLIP_CODES STAFF_SESSION_TTL_S
STAFF_REFRESH_TTL_S WECHAT_BINDING_CODE_TTL_S CONTENT_PASS_TTL_S
""".split()


@pytest.fixture
def clean_env(monkeypatch):
    """No setting in the environment: every test sets what it reads."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_known_variable_keeps_its_name_and_every_setting_has_one_group():
    assert set(KNOWN) <= set(Settings.model_fields)
    grouped = [name for group in GROUPS.values() for name in group.model_fields]
    assert sorted(grouped) == sorted(Settings.model_fields)


def test_defaults_without_environment(clean_env):
    settings = read_settings()
    assert (settings.DB_POOL_SIZE, settings.K_ANONYMITY, settings.LOG_LEVEL) == (10, 5, "INFO")
    assert settings.WECHAT_CONTENT_CHECK is True and settings.SESSION_COOKIE_SECURE is False
    assert settings.WECOM_API_BASE == "https://qyapi.weixin.qq.com"
    assert settings.PINGYI_WORKERS >= 2  # cores + 1


def test_environment_values_are_parsed_to_their_types(clean_env):
    clean_env.setenv("DB_POOL_SIZE", "7")
    clean_env.setenv("COMMIT_TIMEOUT_S", "2.5")
    clean_env.setenv("SESSION_COOKIE_SECURE", "yes")
    clean_env.setenv("WECHAT_CONTENT_CHECK", "0")
    clean_env.setenv("LOG_LEVEL", "warning")
    clean_env.setenv("K_ANONYMITY", "")  # empty: the default, as before
    settings = read_settings()
    assert settings.DB_POOL_SIZE == 7 and settings.COMMIT_TIMEOUT_S == 2.5
    assert settings.SESSION_COOKIE_SECURE is True and settings.WECHAT_CONTENT_CHECK is False
    assert settings.LOG_LEVEL == "WARNING" and settings.K_ANONYMITY == 5


def test_overrides_take_precedence_and_other_keys_pass_through(clean_env, tmp_path):
    clean_env.setenv("TOKEN_GUESS_LIMIT", "7")
    config = load_settings(str(tmp_path), {"TOKEN_GUESS_LIMIT": "0", "TESTING": True,
                                           "BOT_LEASE_S": 5})
    assert config["TOKEN_GUESS_LIMIT"] == 0 and config["BOT_LEASE_S"] == 5
    assert config["TESTING"] is True
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'pingyi.sqlite3'}"
    assert config["FORMS_DIR"].endswith("config/forms") and len(config["SECRET_KEY"]) == 64


@pytest.mark.parametrize(("name", "value", "says"), [
    ("DB_POOL_SIZE", "ten", "valid integer"),
    ("DB_POOL_SIZE", "0", "greater than or equal to 1"),
    ("SESSION_COOKIE_SECURE", "maybe", "valid boolean"),
    ("LOG_LEVEL", "LOUD", "logging level"),
    ("PINGYI_LOG_LEVEL", "loud", "'debug', 'info', 'warning', 'error' or 'critical'"),
    ("MINIPROGRAM_ENV_VERSION", "beta", "'release', 'trial' or 'develop'"),
    ("MINIPROGRAM_CODE_WIDTH", "2000", "less than or equal to 1280"),
    ("COMMIT_TIMEOUT_S", "-1", "greater than 0"),
])
def test_a_bad_value_is_refused_naming_the_variable(clean_env, name, value, says):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        read_settings()
    message = str(caught.value)
    assert f"{name}:" in message and says in message and repr(value) in message


def test_every_bad_variable_is_named_at_once_and_secrets_are_not_shown(clean_env):
    clean_env.setenv("WECOM_CALLBACK_AES_KEY", "not-43-characters-secret")
    clean_env.setenv("TOKEN_GUESS_WINDOW_S", "0")
    with pytest.raises(SettingsError) as caught:
        read_settings()
    message = str(caught.value)
    assert "WECOM_CALLBACK_AES_KEY: Value error, the EncodingAESKey has 43 characters" in message
    assert "TOKEN_GUESS_WINDOW_S:" in message
    assert "not-43-characters-secret" not in message


def test_a_misspelt_override_is_refused(clean_env):
    with pytest.raises(SettingsError, match="BOT_LEASE: Extra inputs are not permitted"):
        read_settings(BOT_LEASE=5)


def test_the_app_does_not_start_with_a_bad_value(clean_env, tmp_path):
    clean_env.setenv("LOGIN_FAIL_WINDOW_S", "15min")
    with pytest.raises(SettingsError, match="LOGIN_FAIL_WINDOW_S: Input should be a valid integer"):
        create_app({"INSTANCE_PATH": tmp_path / "instance"})


def test_the_app_config_holds_every_setting(app):
    assert set(Settings.model_fields) <= set(app.config)
    assert app.config["BOT_LEASE_S"] == 120 and app.config["MINIPROGRAM_CODE_WIDTH"] == 430


def test_the_docs_tables_are_the_generated_ones():
    assert settings_docs.stale() == [], "run: pingyi settings docs"


def test_settings_docs_rewrites_a_stale_table(tmp_path):
    for name in settings_docs.DOCS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(settings_docs.ROOT / name, tmp_path / name)
    readme = tmp_path / "README.md"
    current = readme.read_text(encoding="utf-8")
    readme.write_text(current.replace("| `K_ANONYMITY` | `5` |", "| `K_ANONYMITY` | `3` |"),
                      encoding="utf-8")
    assert settings_docs.stale(tmp_path) == ["README.md"]
    assert settings_docs.write(tmp_path) == ["README.md"]
    assert readme.read_text(encoding="utf-8") == current
    assert settings_docs.stale(tmp_path) == []


def test_a_table_generated_from_the_declarations():
    lines = settings_docs.table("bot").splitlines()
    assert lines[:2] == ["| variable | default | meaning |", "|---|---|---|"]
    assert "| `BOT_HTTP_TIMEOUT_S` | `10` | connect + read timeout" in lines[8]
    assert len(lines) == 2 + len(GROUPS["bot"].model_fields)
    production = settings_docs.table("production")
    assert "| `SESSION_COOKIE_SECURE` | `false` | `true` |" in production


def test_the_cli_checks_the_docs(app):
    result = app.test_cli_runner().invoke(args=["settings", "docs", "--check"])
    assert result.exit_code == 0, result.output
    assert "settings tables current" in result.output
