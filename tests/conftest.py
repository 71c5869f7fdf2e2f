import uuid

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL (worker tests also Redis): set DATABASE_URL; CI runs it"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """In CI every test must run: a skip there hides a failure, so it fails the run."""
    import os

    if os.environ.get("CI_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI_FAIL_ON_SKIP: {len(skipped)} test(s) skipped", red=True)
        session.exitstatus = 1


# Admin clients logged in as a member of each staff group (tests/admin_support.py).
@pytest.fixture
def staff(db):
    from tests.admin_support import STORE_STAFF, login

    return login(group=STORE_STAFF)


@pytest.fixture
def marketer(db):
    from tests.admin_support import MARKETERS, login

    return login(group=MARKETERS)


@pytest.fixture
def superuser(db):
    from tests.admin_support import login

    return login(superuser=True)


@pytest.fixture(autouse=True)
def _own_cache_namespace(settings):
    """Each test gets its own cache key prefix on the configured backend (Redis in CI), so
    throttle counters never leak between tests and nothing ever flushes a shared Redis DB."""
    default = {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    settings.CACHES = {**settings.CACHES, "default": default}


@pytest.fixture
def latest_migrations_after():
    """A test that migrates back leaves the database migrated to the latest again."""
    from tests.migrations import migrate_to_latest

    yield
    migrate_to_latest()
