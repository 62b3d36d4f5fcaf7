"""The NHS.UK design system is served from this server (npm package), never a CDN."""

from __future__ import annotations

from django.test import Client


def test_it_serves_the_design_system_and_page_script_locally(client: Client, db: None) -> None:
    css = client.get("/static/nhsuk/nhsuk-frontend.min.css")
    assert css.status_code == 200
    assert b".nhsuk-header" in b"".join(css.streaming_content)  # type: ignore[attr-defined]
    script = client.get("/static/web/app.js")
    assert script.status_code == 200
    assert b"initAll" in b"".join(script.streaming_content)  # type: ignore[attr-defined]
    assert client.get("/static/nhsuk/nhsuk-frontend.min.js").status_code == 200


def test_it_points_the_stylesheets_icon_paths_at_the_local_copies(client: Client, db: None) -> None:
    response = client.get("/assets/images/nhsuk-icon-cross.svg")
    assert response.status_code == 301
    assert response["Location"] == "/static/nhsuk/assets/images/nhsuk-icon-cross.svg"
    assert client.get(response["Location"]).status_code == 200
