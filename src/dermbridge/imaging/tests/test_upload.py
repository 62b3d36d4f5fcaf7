"""The upload handler keeps photos in memory, never on disk, and refuses oversized ones clearly."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from django.http import HttpRequest
from django.test import RequestFactory

from dermbridge.imaging.upload import InMemoryPhotoUploadHandler, upload_errors

from . import corpus


def multipart_request(files: dict[str, bytes], max_bytes: int, chunk: int = 8192) -> HttpRequest:
    data: dict[str, object] = {"note": "left forearm"}
    for field, content in files.items():
        data[field] = SimpleUploadedFile(f"{field}.jpg", content, content_type="image/jpeg")
    request = RequestFactory().post("/referrals/1/images", data=data)
    handler = InMemoryPhotoUploadHandler(request, max_bytes=max_bytes)
    handler.chunk_size = chunk
    request.upload_handlers = [handler]
    return request


@pytest.fixture
def isolated_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def test_it_keeps_photos_in_memory_and_writes_nothing_to_disk(isolated_tmp: Path) -> None:
    """GIVEN a 5 MB-class photo upload WHEN parsed THEN an in-memory file, and no temp file."""
    photo = corpus.encode(corpus.skin_photo(1600, 1200), "JPEG", quality=95)
    request = multipart_request({"image": photo}, max_bytes=40 * 1024 * 1024)
    uploaded = request.FILES["image"]
    assert isinstance(uploaded, InMemoryUploadedFile)
    assert uploaded.read() == photo and uploaded.size == len(photo)
    assert request.POST["note"] == "left forearm"
    assert upload_errors(request) == []
    assert list(isolated_tmp.iterdir()) == []


def test_it_refuses_a_file_over_the_limit_and_keeps_the_others(isolated_tmp: Path) -> None:
    """GIVEN one photo over the limit among two WHEN parsed THEN that one is refused with a reason."""
    small = corpus.encode(corpus.skin_photo(), "JPEG", quality=80)
    big = small + b"\x00" * 300_000
    request = multipart_request({"first": small, "second": big}, max_bytes=len(small) + 1000)
    assert "first" in request.FILES and "second" not in request.FILES
    (reason,) = upload_errors(request)
    assert "second.jpg is larger than" in reason and "MB" in reason
    assert list(isolated_tmp.iterdir()) == []


def test_it_stops_a_request_whose_files_together_pass_the_total(isolated_tmp: Path) -> None:
    """GIVEN more data than max_files photos could hold THEN the upload stops with a reason."""
    photo = corpus.encode(corpus.skin_photo(), "JPEG", quality=80)
    files = {f"image{i}": photo for i in range(4)}
    request = multipart_request(files, max_bytes=len(photo) + 10)
    handler = request.upload_handlers[0]
    assert isinstance(handler, InMemoryPhotoUploadHandler)
    handler.max_total_bytes = 2 * len(photo) + 10
    assert len(request.FILES) == 2
    assert "in all" in upload_errors(request)[0]


def test_the_default_limit_is_the_sites_upload_limit(settings: Any) -> None:
    """GIVEN MAX_UPLOAD_BYTES in settings THEN the handler uses it; a default of 40 MB otherwise."""
    settings.MAX_UPLOAD_BYTES = 12_345_678
    assert InMemoryPhotoUploadHandler(None).max_bytes == 12_345_678
    del settings.MAX_UPLOAD_BYTES
    assert InMemoryPhotoUploadHandler(None).max_bytes == 40 * 1024 * 1024
