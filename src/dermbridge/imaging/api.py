"""REST API for lesion photos: upload (processed in the background), status, removal."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dermbridge.accounts.api import acting_user
from dermbridge.accounts.authentication import API_AUTHENTICATION
from dermbridge.api.errors import record_access_denied
from dermbridge.api.schema import error_responses, id_parameter
from dermbridge.api.views import JsonView, int_or_404
from dermbridge.imaging import quality_review, reads, services
from dermbridge.imaging.models import LesionImage
from dermbridge.imaging.serializers import (
    ImageAcceptedSerializer,
    ImageSerializer,
    ImageUploadSerializer,
)
from dermbridge.referrals.api_helpers import visible_lesion

IMAGE_ID = id_parameter("image_id", "The image id returned by the upload.")


class ImageUploadView(APIView):
    authentication_classes = API_AUTHENTICATION
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="referrals_lesions_images_create",
        parameters=[id_parameter("number", "The lesion's number within the referral.")],
        request={"multipart/form-data": ImageUploadSerializer},
        responses={202: ImageAcceptedSerializer, **error_responses(400, 403, 404, 409, 415)},
        summary="Upload a photo of a lesion; it is checked and processed in the background",
    )
    def post(self, request: Request, reference: str, number: int) -> Response:
        lesion = visible_lesion(request, reference, number)
        body = ImageUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # The one way in for images (imaging/intake.py): a DICOM object is taken here too.
        image = services.accept_photo(
            lesion,
            user=acting_user(request),
            fileobj=data["file"],
            image_type=data["image_type"],
            dermoscopy_mode=data.get("dermoscopy_mode", ""),
        )
        return Response(
            {"id": image.pk, "status": image.status, "url": f"/api/images/{image.pk}/"},
            status=status.HTTP_202_ACCEPTED,
        )


def _refused(request: Request, image_id: int) -> NotFound:
    record_access_denied(request, "imaging.lesionimage", image_id)
    return NotFound("No image with this id that you can see.")


def visible_image(request: Request, image_id: int) -> LesionImage:
    image = reads.visible_image(acting_user(request), int_or_404(image_id))
    if image is None:
        raise _refused(request, image_id)
    return image


class ImageDetailView(JsonView):
    @extend_schema(
        operation_id="images_retrieve",
        parameters=[IMAGE_ID],
        responses={200: ImageSerializer, **error_responses(403, 404)},
        summary="An uploaded photo's processing status and quality warnings",
    )
    def get(self, request: Request, image_id: int) -> Response:
        image = reads.view_image_status(acting_user(request), int_or_404(image_id))
        if image is None:
            raise _refused(request, image_id)
        return Response(ImageSerializer(image).data)

    @extend_schema(
        operation_id="images_destroy",
        parameters=[IMAGE_ID],
        responses={204: OpenApiResponse(description="Removed."), **error_responses(403, 404, 409)},
        summary="Remove a photo from a draft (never one that informed a clinical decision)",
    )
    def delete(self, request: Request, image_id: int) -> Response:
        image = visible_image(request, image_id)
        services.delete_image(image, user=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageKeepView(JsonView):
    @extend_schema(
        operation_id="images_keep",
        parameters=[IMAGE_ID],
        request=None,
        responses={200: ImageSerializer, **error_responses(400, 403, 404, 409)},
        summary="Keep a photo despite its quality warnings (else retake it before sending)",
        description="A ready photo with quality warnings stops the referral being sent until "
        "the photographer keeps it (this call, recorded and audited) or removes it and uploads "
        "another. A photo with a blocking problem cannot be kept (400).",
    )
    def post(self, request: Request, image_id: int) -> Response:
        image = visible_image(request, image_id)
        kept = quality_review.keep_photo(image, user=acting_user(request))
        return Response(ImageSerializer(kept).data)


__all__ = ["ImageDetailView", "ImageKeepView", "ImageUploadView"]
