"""JSON shapes of lesion images for the REST API: the upload, the processing status and
quality warnings, the image-set checklist of a lesion.

Serializers only parse and present: the rules live in the imaging services.
"""

from __future__ import annotations

from rest_framework import serializers

from dermbridge.imaging.models import DermoscopyMode, ImageType, LesionImage
from dermbridge.imaging.quality_review import ai_note


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JPEG, PNG, HEIC or TIFF photo of the lesion.")
    image_type = serializers.ChoiceField(choices=ImageType.choices)
    dermoscopy_mode = serializers.ChoiceField(
        choices=DermoscopyMode.choices, required=False, allow_blank=True, default=""
    )


class ImageSerializer(serializers.ModelSerializer[LesionImage]):
    lesion = serializers.IntegerField(source="lesion.number", read_only=True)
    # Declared: read-only model fields lose allow_blank, and the schema would forbid "".
    dermoscopy_mode = serializers.ChoiceField(
        choices=DermoscopyMode.choices, allow_blank=True, read_only=True
    )
    referral = serializers.CharField(source="lesion.referral.reference", read_only=True)
    quality_warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    blocking_problems = serializers.SerializerMethodField(
        help_text="Quality failures the service treats as blocking: retake before sending."
    )
    quality_kept_at = serializers.DateTimeField(
        source="quality_acknowledged_at",
        read_only=True,
        allow_null=True,
        help_text="When the photographer kept the photo despite its quality warnings (POST "
        "/api/images/{id}/keep/); null while a warning still needs keeping or retaking.",
    )
    ai_note = serializers.SerializerMethodField(
        help_text="The AI's own note when it could not assess this dermoscopic photo (empty "
        "otherwise). Not a quality problem: it never stops sending."
    )

    class Meta:
        model = LesionImage
        fields = [
            "id",
            "referral",
            "lesion",
            "image_type",
            "dermoscopy_mode",
            "status",
            "failure_reason",
            "quality_warnings",
            "blocking_problems",
            "quality_kept_at",
            "ai_note",
            "width",
            "height",
            "uploaded_at",
            "processed_at",
            "informed_decision",
        ]
        read_only_fields = fields

    def get_ai_note(self, image: LesionImage) -> str:
        return ai_note(image)

    def get_blocking_problems(self, image: LesionImage) -> list[str]:
        return [
            c["message"]
            for c in image.quality.values()
            if c.get("blocking") and not c.get("ok", True)
        ]


class ImageAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="Always 'processing': poll GET /api/images/{id}/.")
    url = serializers.CharField()


class ImageSetSerializer(serializers.Serializer):
    required = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    missing = serializers.ListField(child=serializers.CharField())
    processing = serializers.IntegerField()
    failed = serializers.IntegerField()
