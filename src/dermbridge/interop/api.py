"""REST API for hospital imaging: attach a DICOM photograph (from a hospital camera system or a
PACS) to a lesion through the same image pipeline as a phone photo."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dermbridge.accounts.api import acting_user
from dermbridge.accounts.authentication import API_AUTHENTICATION
from dermbridge.api.schema import error_responses, id_parameter
from dermbridge.imaging.intake import accept_photo
from dermbridge.imaging.models import ImageType
from dermbridge.imaging.serializers import ImageAcceptedSerializer
from dermbridge.referrals.api_helpers import visible_lesion


class DicomUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A DICOM Part 10 file: Dermoscopic Photography Image Storage or VL "
        "Photographic Image Storage. Its Patient ID, when an NHS number, must be the patient's."
    )
    image_type = serializers.ChoiceField(
        choices=ImageType.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Defaults to the object's class: dermoscopic, or close-up for a VL photograph.",
    )


class DicomUploadView(APIView):
    authentication_classes = API_AUTHENTICATION
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="referrals_lesions_dicom_create",
        parameters=[id_parameter("number", "The lesion's number within the referral.")],
        request={"multipart/form-data": DicomUploadSerializer},
        responses={202: ImageAcceptedSerializer, **error_responses(400, 403, 404, 409)},
        summary="Attach a hospital camera's DICOM photograph to a lesion; processed in the "
        "background like a photo",
    )
    def post(self, request: Request, reference: str, number: int) -> Response:
        lesion = visible_lesion(request, reference, number)
        body = DicomUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # The one way in for images (imaging/intake.py), asked for DICOM only at this address.
        image = accept_photo(
            lesion,
            user=acting_user(request),
            fileobj=data["file"],
            image_type=data["image_type"],
            dicom_only=True,
        )
        return Response(
            {"id": image.pk, "status": image.status, "url": f"/api/images/{image.pk}/"},
            status=status.HTTP_202_ACCEPTED,
        )


__all__ = ["DicomUploadView"]
