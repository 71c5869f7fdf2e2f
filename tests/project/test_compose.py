"""The production stack's files agree with each other and with the settings.

docker-compose.yml, the Dockerfile and .env.example cannot be run here (no Docker in CI), so
these tests read them and check the promises docs/operations.md makes about them.
"""

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")
ENV_FUNCTIONS = {"env_bool", "env_int", "env_list", "env_rate"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def command_words(service: dict) -> list[str]:
    command = service.get("command")
    return shlex.split(command) if isinstance(command, str) else list(command or [])


def settings_env_names() -> set[str]:
    """Names of the environment variables loyalty/settings.py reads, found in its syntax tree:
    os.environ.get("X") / os.environ["X"] / os.getenv("X") / env_bool|env_int|env_list|env_rate("X")
    and env="X" keywords (dj_database_url.config)."""
    tree = ast.parse((ROOT / "loyalty" / "settings.py").read_text())
    readers = {"os.environ.get", "os.getenv", *ENV_FUNCTIONS}
    names: set[str] = set()

    def add(node) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if ast.unparse(node.func) in readers and node.args:
                add(node.args[0])
            for keyword in node.keywords:
                if keyword.arg == "env":
                    add(keyword.value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            add(node.slice)
    return names


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        assert match, f".env.example: not a plain NAME=value line: {line!r}"
        name, value = match.groups()
        assert name not in values, f".env.example lists {name} twice"
        assert " #" not in value, f".env.example: no comments after a value: {line!r}"
        values[name] = value
    return values


def test_services_exist(services):
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)


def test_web_worker_beat_share_one_image(services):
    images = {services[name]["image"] for name in APP_SERVICES}
    builds = {str(services[name]["build"]) for name in APP_SERVICES}
    assert images == {"loyalty-engine:latest"}
    assert builds == {"."}
    assert services["migrate"]["image"] == "loyalty-engine:latest"


def test_commands(services):
    web, worker, beat = (command_words(services[name]) for name in APP_SERVICES)
    assert web[:2] == ["gunicorn", "loyalty.wsgi"]
    assert worker[:4] == ["celery", "-A", "loyalty", "worker"]
    assert beat[:4] == ["celery", "-A", "loyalty", "beat"]
    # The schedule file must be in the directory the image makes writable for its user.
    assert "--schedule=/app/var/celerybeat-schedule" in beat
    assert command_words(services["migrate"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"


def test_app_services_wait_for_healthy_postgres_redis_and_migrations(services):
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"] == {"condition": "service_healthy"}, name
        assert depends_on["redis"] == {"condition": "service_healthy"}, name
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name
    migrate = services["migrate"]["depends_on"]
    assert migrate == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_healthchecks(services):
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "-m", "loyalty.health"]
    worker_check = services["worker"]["healthcheck"]["test"]
    assert worker_check[0] == "CMD-SHELL"
    # $$ reaches the container as $, so its shell expands the worker's own host name.
    assert "celery -A loyalty inspect ping -d celery@$$HOSTNAME" in worker_check[1]


def test_postgres_keeps_its_data_and_matches_database_url(compose, services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "postgres-data" in compose["volumes"]
    env = postgres["environment"]
    expected = "postgres://{POSTGRES_USER}:{POSTGRES_PASSWORD}@postgres:5432/{POSTGRES_DB}"
    assert env_example()["DATABASE_URL"] == expected.format(**env)
    assert services["redis"]["image"] == "redis:7"
    assert env_example()["REDIS_URL"].startswith("redis://redis:6379/")


def test_app_services_read_env_file(services):
    for name in (*APP_SERVICES, "migrate"):
        assert services[name]["env_file"] == ".env", name


def test_env_example_lists_exactly_the_variables_settings_read():
    read = settings_env_names()
    listed = set(env_example())
    # Guard the parser itself: these are certainly read.
    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "REDIS_URL"} <= read
    assert read - listed == set(), "read by settings but missing from .env.example"
    assert listed - read == set(), "in .env.example but never read by settings"


def test_env_example_is_production_shaped():
    env = env_example()
    assert env["LOYALTY_ENV"] == "production"
    assert env["DJANGO_DEBUG"] == "0"
    assert env["DATABASE_URL"] == "postgres://loyalty:loyalty@postgres:5432/loyalty"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DJANGO_ALLOWED_HOSTS"]


def test_configuration_doc_covers_every_variable():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = {name for name in settings_env_names() if f"`{name}`" not in doc}
    assert missing == set()


def test_dockerfile_installs_with_constraints_and_runs_as_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    # Join continuation lines so each instruction is one string.
    joined = re.sub(r"\\\n", " ", dockerfile).splitlines()
    instructions = [line for line in joined if line.strip() and not line.startswith("#")]
    pip_installs = [line for line in instructions if "pip install" in line]
    assert pip_installs
    for line in pip_installs:
        assert "-c requirements/constraints.txt" in line, line
    assert any(line.rstrip().endswith("-e .") for line in pip_installs)
    assert instructions[0].startswith("FROM python:3.11-slim")
    assert any(re.match(r"USER\s+loyalty\b", line) for line in instructions)
    collect = next(line for line in instructions if "collectstatic" in line)
    assert "LOYALTY_ENV=production" in collect and "DJANGO_SECRET_KEY=" in collect
    cmd = next(line for line in instructions if line.startswith("CMD"))
    assert '"gunicorn", "loyalty.wsgi"' in cmd


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", "var", ".git"} <= ignored
