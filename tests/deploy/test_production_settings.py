"""Production settings, each read in a fresh interpreter with a production environment.

Settings are read once per process, so every case runs ``python`` in a subprocess with its
own environment; nothing here touches the test process's settings.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Variables of the surrounding shell that would leak into a "production" start-up.
_SETTINGS_VARS = (
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "MEDIA_STORAGE",
    "AWS_STORAGE_BUCKET_NAME", "CELERY_TASK_TIME_LIMIT", "CELERY_TASK_SOFT_TIME_LIMIT",
    "CELERY_VISIBILITY_TIMEOUT", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "GAZECROWD_MAX_UPLOAD_MB", "DATA_UPLOAD_MAX_MEMORY_SIZE", "FILE_UPLOAD_MAX_MEMORY_SIZE",
)


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="gazecrowd.example.org",
        CSRF_TRUSTED_ORIGINS="https://gazecrowd.example.org",
        GAZECROWD_DATA_DIR=str(tmp_path / "data"),
        DJANGO_SETTINGS_MODULE="crowd.settings",
    )
    env.update(overrides)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def read_settings(env: dict[str, str], *names: str) -> dict:
    code = (
        "import json, crowd.settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}, default=str))"
    )
    done = run_python(code, env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=180,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output, output


def test_check_deploy_warns_when_debug_is_on(tmp_path):
    # The same check fails on the development default: the clean result above is not vacuous.
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path, DEBUG="true"), capture_output=True, text=True,
        timeout=180,
    )
    assert done.returncode != 0
    assert "security.W018" in done.stdout + done.stderr  # DEBUG must not be True in deployment


def test_production_turns_on_secure_cookies_hsts_and_https(tmp_path):
    values = read_settings(
        production_env(tmp_path), "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER",
        "ALLOWED_HOSTS", "STORAGES",
    )
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["ALLOWED_HOSTS"] == ["gazecrowd.example.org"]
    assert values["STORAGES"]["staticfiles"]["BACKEND"].startswith("whitenoise.")


def test_upload_limits_and_hsts_come_from_the_environment(tmp_path):
    env = production_env(
        tmp_path, GAZECROWD_MAX_UPLOAD_MB="64", DATA_UPLOAD_MAX_MEMORY_SIZE="1048576",
        FILE_UPLOAD_MAX_MEMORY_SIZE="2097152", SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_PRELOAD="false",
    )
    values = read_settings(
        env, "GAZECROWD_MAX_UPLOAD_MB", "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "FILE_UPLOAD_MAX_MEMORY_SIZE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD",
    )
    assert values == {
        "GAZECROWD_MAX_UPLOAD_MB": 64, "DATA_UPLOAD_MAX_MEMORY_SIZE": 1048576,
        "FILE_UPLOAD_MAX_MEMORY_SIZE": 2097152, "SECURE_HSTS_SECONDS": 600,
        "SECURE_HSTS_PRELOAD": False,
    }


def test_production_without_secret_key_refuses_to_start(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    done = run_python("import crowd.settings", env)
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CELERY_VISIBILITY_TIMEOUT": "600"}, "CELERY_VISIBILITY_TIMEOUT (600 s) must be longer"),
        ({"CELERY_TASK_SOFT_TIME_LIMIT": "4000"}, "CELERY_TASK_SOFT_TIME_LIMIT must be positive"),
        ({"CELERY_TASK_TIME_LIMIT": "an hour"}, "CELERY_TASK_TIME_LIMIT is malformed"),
        ({"MEDIA_STORAGE": "ftp"}, "MEDIA_STORAGE is malformed: 'ftp'"),
        ({"GAZECROWD_MAX_UPLOAD_MB": "0"}, "GAZECROWD_MAX_UPLOAD_MB must be a positive"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, overrides, message):
    done = run_python("import crowd.settings", production_env(tmp_path, **overrides))
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-2000:]


def test_time_limits_follow_the_hard_limit_when_only_it_is_set(tmp_path):
    assert read_settings(production_env(tmp_path), "CELERY_TASK_SOFT_TIME_LIMIT")[
        "CELERY_TASK_SOFT_TIME_LIMIT"] == 3300
    # The visibility timeout is the Redis transport's: the embedded broker has none.
    values = read_settings(production_env(tmp_path, CELERY_TASK_TIME_LIMIT="600",
                                          CELERY_BROKER_URL="redis://127.0.0.1:6379/0"),
                           "CELERY_TASK_SOFT_TIME_LIMIT", "CELERY_BROKER_TRANSPORT_OPTIONS")
    assert values["CELERY_TASK_SOFT_TIME_LIMIT"] == 540
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 1200


def test_celery_reliability_settings(tmp_path):
    values = read_settings(
        production_env(tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:6379/0"),
        "CELERY_TASK_ACKS_LATE", "CELERY_TASK_REJECT_ON_WORKER_LOST",
        "CELERY_WORKER_PREFETCH_MULTIPLIER", "CELERY_TASK_TIME_LIMIT",
        "CELERY_BROKER_TRANSPORT_OPTIONS", "CELERY_TASK_QUEUES", "CELERY_TASK_ROUTES",
        "CELERY_TASK_ALWAYS_EAGER", "CELERY_WORKER_MAX_TASKS_PER_CHILD",
        "CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS",
    )
    assert values["CELERY_TASK_ACKS_LATE"] is True
    assert values["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert values["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert (
        values["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"]
        > values["CELERY_TASK_TIME_LIMIT"]
    )
    queues = sorted(values["CELERY_TASK_QUEUES"])
    # Each queue bound by its own name: with the default key all would get every task.
    assert queues == [
        f"<unbound Queue {name} -> <unbound Exchange {name}(direct)> -> {name}>"
        for name in ("celery", "long", "quick")
    ]
    assert values["CELERY_TASK_ROUTES"]["segmentation.run_*"] == {"queue": "long"}
    assert values["CELERY_TASK_ROUTES"]["segmentation.estimate_*"] == {"queue": "quick"}
    assert values["CELERY_WORKER_MAX_TASKS_PER_CHILD"] >= 1
    # A Redis blip must not kill running study runs (see the setting's comment).
    assert values["CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS"] is False


def test_the_real_tasks_route_to_their_queues():
    from crowd.celery import app

    app.loader.import_default_modules()
    router = app.amqp.router
    for task, queue in [("segmentation.run_execute", "long"),
                        ("segmentation.estimate_recording", "quick"),
                        ("crowd.worker_heartbeat", "celery")]:
        route = router.route({}, task)["queue"]
        # The message goes out on the queue's own exchange and key, where its workers listen.
        assert (route.name, route.exchange.name, route.routing_key) == (queue, queue, queue)


def test_s3_media_switch(tmp_path):
    env = production_env(tmp_path, MEDIA_STORAGE="s3", AWS_STORAGE_BUCKET_NAME="gaze-media",
                         AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
                         AWS_S3_ADDRESSING_STYLE="path")
    try:
        import storages  # noqa: F401
    except ImportError:
        # Without the optional extra, start-up says how to get it.
        done = run_python("import crowd.settings", env)
        assert done.returncode != 0
        assert 'pip install "gazecrowd[s3]"' in done.stderr
        return
    storage = read_settings(env, "STORAGES")["STORAGES"]["default"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "gaze-media"
    assert storage["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert storage["OPTIONS"]["querystring_auth"] is True
    assert storage["OPTIONS"]["default_acl"] is None
    del env["AWS_STORAGE_BUCKET_NAME"]
    done = run_python("import crowd.settings", env)
    assert "MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME" in done.stderr
