"""Lesion photographs: what was uploaded, how it was processed, where its encrypted blobs live."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# The image-type vocabulary lives below the apps (accounts validates service rules against
# it); re-exported here, where imaging has always imported it from.
from dermbridge.vocabulary.choices import ImageType


def new_media_key() -> str:
    """An unguessable name for a photo's web address (128 bits; never the database id)."""
    return secrets.token_urlsafe(16)


class DermoscopyMode(models.TextChoices):
    CONTACT_POLARISED = "contact_polarised", "Contact, polarised"
    CONTACT_NON_POLARISED = "contact_non_polarised", "Contact, non-polarised"
    NON_CONTACT_POLARISED = "non_contact_polarised", "Non-contact, polarised"


class ImageStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Could not be used"


class LesionImage(models.Model):
    """One photograph of a lesion (overview, close-up or dermoscopic) and its derivatives."""

    lesion = models.ForeignKey("referrals.Lesion", on_delete=models.PROTECT, related_name="images")
    # The photo's address on the web (/images/<media_key>/<version>/): not the sequential id, so
    # an address reveals nothing about how many photos there are and cannot be guessed.
    media_key = models.CharField(max_length=32, unique=True, default=new_media_key, editable=False)
    image_type = models.CharField(max_length=16, choices=ImageType.choices)
    dermoscopy_mode = models.CharField(max_length=24, choices=DermoscopyMode.choices, blank=True)
    status = models.CharField(
        max_length=12, choices=ImageStatus.choices, default=ImageStatus.PROCESSING
    )
    failure_reason = models.CharField(max_length=300, blank=True)
    # Encrypted upload awaiting the pipeline; cleared once processed.
    upload_address = models.CharField(max_length=80, blank=True)
    upload_size = models.PositiveBigIntegerField(default=0)
    # {"master": {"address", "sha256", "size", "width", "height", "media_type"}, "viewer": ...}
    derivatives = models.JSONField(default=dict, blank=True)
    master_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    perceptual_hash = models.CharField(max_length=32, blank=True)
    quality = models.JSONField(default=dict, blank=True)
    # "Keep this photo": the photographer saw the quality warnings and chose to send it anyway
    # (imaging.quality_review.keep_photo, audited). A warning unacknowledged stops sending.
    quality_acknowledged_at = models.DateTimeField(null=True, blank=True)
    quality_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    device_model = models.CharField(max_length=100, blank=True)
    informed_decision = models.BooleanField(
        default=False, help_text="Seen by a dermatologist for a decision: part of the record."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Runs of the pipeline that ended in a temporary error (blob store or database away);
    # retried with back-off up to imaging.processing.MAX_ATTEMPTS, then failed with a reason.
    processing_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["lesion", "uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_image_type_display()} image {self.pk}"

    def derivative_address(self, name: str) -> str | None:
        entry = self.derivatives.get(name)
        return entry["address"] if entry else None

    @property
    def quality_warnings(self) -> list[str]:
        return [c["message"] for c in self.quality.values() if not c.get("ok", True)]


class BlobRef(models.Model):
    """One row per (blob address, image) a LesionImage names: the raw upload while it waits for
    the pipeline, then each derivative. Blobs are content-addressed, so two images of the same
    bytes share blobs; a blob is deleted only when no BlobRef names it (imaging.blobrefs)."""

    address = models.CharField(max_length=80, db_index=True)
    image = models.ForeignKey(LesionImage, on_delete=models.CASCADE, related_name="blob_refs")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["address", "image"], name="blobref_address_image")
        ]

    def __str__(self) -> str:
        return f"{self.address[:12]}... <- image {self.image_id}"


class BlobLock(models.Model):
    """A row per blob address, locked (row lock on PostgreSQL; the write lock on SQLite) by
    whoever is about to name that blob (an upload, the pipeline storing derivatives) or to
    delete it, so a deduplicating put and a delete of the same address cannot interleave."""

    address = models.CharField(max_length=80, primary_key=True)
    locked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.address
