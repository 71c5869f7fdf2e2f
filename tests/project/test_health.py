"""GET /healthz (load balancers, the compose web healthcheck) and the probe that calls it."""

import pytest
from django.db import OperationalError

from loyalty import health


@pytest.mark.django_db
def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_down(client, monkeypatch):
    class DownConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", DownConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_probe_sends_an_allowed_host(live_server, monkeypatch):
    url = f"{live_server.url}/healthz"
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", ".localhost, 127.0.0.1")
    assert health.probe(url) is True  # sent as Host: localhost
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "not-allowed.example")
    assert health.probe(url) is False  # Django answers 400 to a host it does not serve
    assert health.probe("http://127.0.0.1:9/healthz", timeout=2) is False  # nothing listening


@pytest.mark.django_db
def test_root_opens_the_admin(client):
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")
