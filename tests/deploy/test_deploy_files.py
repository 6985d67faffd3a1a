"""The deployment files: compose file, .env.example, Dockerfile, Procfile, systemd units.

No container engine runs here. The compose file is validated by ``docker compose config``
(or the older ``docker-compose config``) when one of them is installed, and always
structurally: the services, queues and settings it must have.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _env_example() -> dict[str, str]:
    """Variables of .env.example, set or commented out (``# NAME=default``)."""
    names = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            names[match.group(1)] = match.group(2)
    return names


def _settings_variables() -> set[str]:
    """Every environment variable that crowd/settings.py reads."""
    source = (ROOT / "crowd" / "settings.py").read_text()
    return set(re.findall(r'(?:_env\("\w+", |env\.\w+\()"([A-Z][A-Z0-9_]*)"', source))


def test_every_setting_is_in_env_example():
    read = _settings_variables()
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_STORAGE"} <= read
    missing = read - set(_env_example())
    assert not missing, f"deploy/.env.example lacks {sorted(missing)}"


def test_every_variable_the_compose_file_interpolates_is_in_env_example():
    text = (DEPLOY / "compose.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    assert used, "no ${VAR} found: the pattern is wrong"
    missing = used - set(_env_example())
    assert not missing, f"deploy/.env.example lacks {sorted(missing)}"


def test_compose_has_the_services_and_queues():
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "web", "worker-quick", "worker-long", "flower"} <= set(
        services
    )
    assert services["flower"]["profiles"] == ["monitoring"]  # optional
    web_command = " ".join(services["web"]["command"])
    assert "gunicorn" in web_command and "crowd.wsgi:application" in web_command
    quick = " ".join(services["worker-quick"]["command"])
    long_ = " ".join(services["worker-long"]["command"])
    assert "celery -A crowd worker" in quick and "--queues quick,celery" in quick
    assert "celery -A crowd worker" in long_ and "--queues long " in long_
    for name in ("web", "worker-quick", "worker-long"):
        service = services[name]
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:")
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "media:/data" in service["volumes"]
    # A broker that evicts or forgets loses tasks.
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command and "noeviction" in redis_command
    # Long workers get time to finish a run on a warm shutdown.
    assert services["worker-long"]["stop_grace_period"] == "10m"


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_config_validates(tmp_path):
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed; "
                    "the structural tests above still ran")
    # compose reads deploy/.env: validate with a copy of .env.example, outside the tree.
    (tmp_path / "deploy").mkdir()
    shutil.copy(DEPLOY / "compose.yaml", tmp_path / "deploy" / "compose.yaml")
    shutil.copy(DEPLOY / ".env.example", tmp_path / "deploy" / ".env")
    done = subprocess.run(
        [*cli, "-f", "compose.yaml", "config"], cwd=tmp_path / "deploy",
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert "worker-long" in resolved["services"]
    # Without POSTGRES_PASSWORD the file refuses to resolve, naming it.
    env_text = (tmp_path / "deploy" / ".env").read_text()
    (tmp_path / "deploy" / ".env").write_text(re.sub(r"(?m)^POSTGRES_PASSWORD=.*$", "", env_text))
    done = subprocess.run(
        [*cli, "-f", "compose.yaml", "config"], cwd=tmp_path / "deploy",
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stdout + done.stderr


def test_dockerfile_builds_from_python_311_slim_with_cpu_torch():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "whl/cpu" in text
    assert 'pip install ".[s3]"' in text
    assert "collectstatic" in text
    assert re.search(r"^USER gazecrowd$", text, re.M)  # not root


def test_procfile_and_systemd_units_run_the_same_processes():
    procfile = dict(
        line.split(": ", 1)
        for line in (DEPLOY / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {"web", "quick", "long", "release"} <= set(procfile)
    assert "--queues quick,celery" in procfile["quick"]
    assert "--queues long" in procfile["long"]
    web_unit = (DEPLOY / "systemd" / "gazecrowd-web.service").read_text()
    worker_unit = (DEPLOY / "systemd" / "gazecrowd-worker@.service").read_text()
    assert "gunicorn -c deploy/gunicorn.conf.py crowd.wsgi:application" in web_unit
    assert "ExecReload=/bin/kill -s HUP $MAINPID" in web_unit
    assert "--queues %i" in worker_unit and "TimeoutStopSec=600" in worker_unit
    for unit in (web_unit, worker_unit):
        assert "EnvironmentFile=/etc/gazecrowd/gazecrowd.env" in unit
        assert "User=gazecrowd" in unit
    systemd_analyze = shutil.which("systemd-analyze")
    if systemd_analyze is None:
        return
    units = sorted(str(p) for p in (DEPLOY / "systemd").iterdir())
    done = subprocess.run([systemd_analyze, "verify", "--man=no", *units], capture_output=True,
                          text=True)
    # Here /opt/gazecrowd does not exist: only that may be reported, never a syntax error.
    problems = [line for line in done.stderr.splitlines()
                if line.strip() and "is not executable: No such file or directory" not in line]
    assert not problems, done.stderr


def test_gunicorn_config_reads_the_environment():
    code = (
        "import runpy, json; c = runpy.run_path('deploy/gunicorn.conf.py'); "
        "print(json.dumps({k: c[k] for k in ('bind', 'workers', 'threads', 'worker_class', "
        "'timeout', 'preload_app')}))"
    )
    env = {"PATH": "/usr/bin:/bin", "GUNICORN_BIND": "127.0.0.1:9123", "GUNICORN_WORKERS": "3",
           "GUNICORN_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        '{"bind": "127.0.0.1:9123", "workers": 3, "threads": 2, "worker_class": "gthread", '
        '"timeout": 120, "preload_app": false}'
    )
    env["GUNICORN_WORKERS"] = "many"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert done.returncode != 0 and "GUNICORN_WORKERS must be an integer" in done.stderr


def test_nginx_site_config_is_valid(tmp_path):
    nginx, openssl = shutil.which("nginx"), shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx or openssl is not installed here")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=gazecrowd.example.org", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/gazecrowd.example.org/fullchain.pem",
                        str(tmp_path / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/gazecrowd.example.org/privkey.pem",
                        str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr
    assert "client_max_body_size 2g;" in site and "X-Forwarded-Proto $scheme" in site
    # Login URLs are rate-limited per address (the lockout itself is django-axes').
    for url in ("/accounts/login/", "/api/auth/token/", "/admin/login/"):
        assert f"location = {url} {{\n        limit_req zone=gazecrowd_login" in site


def test_nginx_limits_the_login_rate_per_address(tmp_path):
    """deploy/nginx.conf's login rule, live: plain HTTP on free ports, a stub behind it."""
    import http.server
    import socket
    import threading
    import urllib.error
    import urllib.request

    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed here")
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{stub.server_address[1]};")
    site = site[:site.index("server {\n    listen 80;")] + site[site.index("server {\n    listen 443"):]
    site = site.replace("listen 443 ssl http2;\n    listen [::]:443 ssl http2;", f"listen 127.0.0.1:{port};")
    site = re.sub(r"\n    ssl_[^\n]*", "", site)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n")
    subprocess.run([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], check=True)

    def status(path):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        logins = [status("/api/auth/token/") for _ in range(10)]
        others = [status("/api/studies/") for _ in range(10)]
    finally:
        subprocess.run([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-s", "stop"])
        stub.shutdown()
    # The stub answers 501 to everything; nginx lets 1 + a burst of 5 through, then says 429.
    assert logins == [501] * 6 + [429] * 4, logins
    assert others == [501] * 10, others
