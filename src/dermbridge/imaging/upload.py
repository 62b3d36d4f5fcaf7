"""Receiving photo uploads in memory only: an unencrypted patient photo never touches the disk.

Django's default upload handlers spill files over 2.5 MB to a temporary file, in
plaintext. This handler keeps each file in memory up to the upload limit, chunk by
chunk, and refuses the file as soon as it passes the limit, so memory per upload is
bounded. The view then hands the in-memory file to the encrypted blob store.

Wire it for the whole site with::

    FILE_UPLOAD_HANDLERS = ["dermbridge.imaging.upload.InMemoryPhotoUploadHandler"]

(alone: a disk-spilling handler listed after it would still create empty temp files),
or per view with ``request.upload_handlers = [InMemoryPhotoUploadHandler(request)]``.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http import HttpRequest

DEFAULT_MAX_BYTES = 40 * 1024 * 1024
# A referral carries about six photos; a request larger than this is not a referral.
DEFAULT_MAX_FILES_PER_REQUEST = 12
_ERRORS_ATTRIBUTE = "dermbridge_upload_errors"


def upload_errors(request: HttpRequest) -> list[str]:
    """Why files in this request were refused by the upload handler, for the form to show."""
    errors = getattr(request, _ERRORS_ATTRIBUTE, None)
    return list(errors) if errors else []


class InMemoryPhotoUploadHandler(FileUploadHandler):
    """Hold each uploaded photo in memory up to ``max_bytes``; refuse larger ones with a reason.

    A file over the limit is skipped (the rest of the request still arrives) and its
    reason recorded for ``upload_errors(request)``; a request whose files together pass
    ``max_bytes * max_files`` is stopped altogether.
    """

    def __init__(
        self,
        request: HttpRequest | None = None,
        *,
        max_bytes: int | None = None,
        max_files: int = DEFAULT_MAX_FILES_PER_REQUEST,
    ) -> None:
        super().__init__(request)
        self.max_bytes: int = max_bytes or int(
            getattr(settings, "MAX_UPLOAD_BYTES", DEFAULT_MAX_BYTES)
        )
        self.max_total_bytes = self.max_bytes * max_files
        self.total_bytes = 0
        self.buffer: io.BytesIO | None = None

    def _refuse(self, reason: str) -> None:
        if self.request is not None:
            errors = getattr(self.request, _ERRORS_ATTRIBUTE, None)
            if errors is None:
                errors = []
                setattr(self.request, _ERRORS_ATTRIBUTE, errors)
            errors.append(reason)
        self.buffer = None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.buffer is None:
            return None
        self.total_bytes += len(raw_data)
        if self.total_bytes > self.max_total_bytes:
            self._refuse(
                f"The upload is larger than {self.max_total_bytes // (1024 * 1024)} MB in all: "
                "send the photos in smaller batches."
            )
            raise StopUpload(connection_reset=False)
        if self.buffer.tell() + len(raw_data) > self.max_bytes:
            self._refuse(
                f"{self.file_name or 'A file'} is larger than "
                f"{self.max_bytes // (1024 * 1024)} MB: send the photo straight from the camera, "
                "not a video or a scan."
            )
            raise SkipFile()
        self.buffer.write(raw_data)
        return None  # consumed here: no later handler sees (or spills) the bytes

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if self.buffer is None:
            return None
        self.buffer.seek(0)
        uploaded = InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            # The client's content type is recorded but never trusted: intake sniffs the bytes.
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
        self.buffer = None
        return uploaded

    def upload_interrupted(self) -> None:
        self.buffer = None
