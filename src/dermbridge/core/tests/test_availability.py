"""While the database, the blob store or the disk is down: a clear 503, never a bare 500.

These drive the real stack (middleware, views, the API) with the failure raised where it really
arises: the blob store's backend refusing a write (disk full), the database connection failing
under a page's query. The outage of a real PostgreSQL server is in test_faults_postgres.py.
"""

from __future__ import annotations

import errno
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client

from dermbridge.core.availability import unavailable_kind
from dermbridge.imaging import storage
from dermbridge.imaging.blobstore import BlobStoreUnavailable, FileSystemBackend
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.synthetic import lesion_photo
from dermbridge.referrals.models import Referral
from dermbridge.testing import make_referral


@pytest.fixture
def blob_root(tmp_path, settings):
    settings.BLOB_ROOT = tmp_path / "blobs"
    storage.blob_store.cache_clear()
    yield settings.BLOB_ROOT
    storage.blob_store.cache_clear()


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_it_classifies_outages_and_nothing_else() -> None:
    assert unavailable_kind(OperationalError("connection refused")) == "database"
    assert unavailable_kind(BlobStoreUnavailable("x", disk_full=True)) == "disk_full"
    assert unavailable_kind(BlobStoreUnavailable("x")) == "storage"
    assert unavailable_kind(OSError(errno.ENOSPC, "No space left on device")) == "disk_full"
    assert unavailable_kind(ValueError("a bug")) is None
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = OperationalError("server closed the connection")
    assert unavailable_kind(wrapped) == "database"


def _disk_full(self, name: str, data: bytes) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_an_api_upload_is_a_json_503_and_changes_nothing(
    world, blob_root, monkeypatch
) -> None:
    """GIVEN the blob store's disk is full
    WHEN a capture app uploads a photo through the API
    THEN it gets a JSON 503 with Retry-After saying the store is full and nothing was saved;
    no image row is left behind."""
    referral = make_referral(world, images=False)
    monkeypatch.setattr(FileSystemBackend, "write", _disk_full)
    response = _client(world.alice).post(
        f"/api/referrals/{referral.reference}/lesions/1/images/",
        {"image_type": "overview", "file": BytesIO(lesion_photo(900, 700))},
    )
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["error"] == "storage_full"
    assert "was saved" in body["detail"] and "Nothing" in body["detail"]
    assert LesionImage.objects.count() == 0


def test_a_full_disk_on_the_photo_page_is_a_styled_503(world, blob_root, monkeypatch) -> None:
    referral = make_referral(world, images=False)
    lesion = referral.lesions.get()
    monkeypatch.setattr(FileSystemBackend, "write", _disk_full)
    response = _client(world.alice).post(
        f"/referrals/{referral.pk}/lesions/{lesion.pk}/photos/",
        {
            "image_type": "overview",
            "photos": SimpleUploadedFile("lesion.jpg", lesion_photo(900, 700), "image/jpeg"),
        },
    )
    assert response.status_code == 503
    html = response.content.decode()
    assert "nhsuk-frontend" in html and "photo store is full" in html
    assert "Nothing you sent in this request was saved" in html
    assert 'name="viewport"' in html
    assert LesionImage.objects.count() == 0


def test_a_database_error_under_a_page_is_a_styled_503(world, monkeypatch) -> None:
    """GIVEN the database connection fails while a page is being built
    THEN the user sees a styled 503 page (no database needed to render it), not a bare 500."""
    make_referral(world)

    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed')

    client = _client(world.alice)
    monkeypatch.setattr(Referral.objects.__class__, "visible_to", refuse, raising=False)
    response = client.get("/referrals/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "database is not answering" in response.content.decode()
    api = client.get("/api/referrals/")
    assert api.status_code == 503 and api.json()["error"] == "database_unavailable"


def test_any_other_error_is_a_styled_500_not_djangos_bare_page(world, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ValueError("a bug")

    client = _client(world.alice)
    monkeypatch.setattr(Referral.objects.__class__, "visible_to", broken, raising=False)
    response = client.get("/referrals/")
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in response.content.decode()
    api = client.get("/api/referrals/")
    assert api.status_code == 500 and api.json()["error"] == "server_error"
