"""FHIR REST services: the transaction import from GP systems, reads, search, capabilities.

The import hands everything to the owning apps' services (patients, referrals, imaging) in one
transaction; reads are filtered by ``Referral.objects.visible_to`` and audited.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dermbridge.audit.services import batched, record
from dermbridge.imaging.intake import accept_photo
from dermbridge.interop import codes, fhir
from dermbridge.interop.fhir.resources import rest_service_request_resource
from dermbridge.interop.fhir_scheduling import SEARCH_PARAMS as SCHEDULING_SEARCH
from dermbridge.interop.services import audit_event
from dermbridge.referrals.models import Referral

if TYPE_CHECKING:
    from dermbridge.accounts.models import User

NHS_NUMBER_SYSTEM = codes.NHS_NUMBER_SYSTEM


# ---------------------------------------------------------------- FHIR import


@transaction.atomic
def import_referral_bundle(data: Any, *, user: User) -> Referral:
    """Create a draft referral with its images from a GP system's transaction Bundle.

    All or nothing: one transaction; any problem (bundle, patient, permissions, images) rolls
    everything back. Images go through the imaging pipeline like any upload; the referral stays
    a draft at the referring practice until its images are processed and a referrer sends it.
    Raises ``BundleProblems`` for a bundle that cannot be read, ``DomainError`` otherwise.
    """
    from dermbridge.interop.fhir.importer import plan_from_bundle

    plan = plan_from_bundle(data)
    # Every event of the import is appended at the end, after the images' blob writes: the audit
    # chain's lock is held only from then until the commit (docs/adr/0008-audit-chain.md).
    with batched():
        return _import_plan(plan, user=user)


def _import_plan(plan: Any, *, user: User) -> Referral:
    from dermbridge.accounts.models import Organisation
    from dermbridge.interop.fhir.importer import BundleProblems
    from dermbridge.patients.services import record_consent, register_patient
    from dermbridge.referrals.services import create_referral

    orgs = {
        o.ods_code: o
        for o in Organisation.objects.filter(ods_code__in=[plan.referring_ods, plan.service_ods])
    }
    missing = [
        (where, f"No organisation with ODS code {ods} is known here.")
        for where, ods in (
            ("ServiceRequest.requester", plan.referring_ods),
            ("ServiceRequest.performer", plan.service_ods),
        )
        if ods not in orgs
    ]
    if missing:
        raise BundleProblems(missing)
    referring, service = orgs[plan.referring_ods], orgs[plan.service_ods]
    patient = register_patient(
        user=user, practice=referring, nhs_number=plan.nhs_number, **plan.patient
    )
    referral = create_referral(
        user=user,
        patient=patient,
        kind=plan.kind,
        service=service,
        referring_org=referring,
        clinical_question=plan.clinical_question,
        history=plan.history,
        lesions=[fields for _, fields in plan.lesions],
    )
    # After the referral exists: a patient registered elsewhere is then visible to the referrer.
    for scope, granted in plan.consents:
        if patient.consent_for(scope) != granted:
            record_consent(
                user=user, patient=patient, scope=scope, granted=granted, note="FHIR import"
            )
    lesions = {
        url: lesion
        for (url, _), lesion in zip(plan.lesions, referral.lesions.order_by("number"), strict=True)
    }
    for image in plan.images:
        # The one way in for images (imaging/intake.py): a Media holding a DICOM object is
        # decoded like one sent to the photo page.
        accept_photo(
            lesions[image.lesion_key],
            user=user,
            fileobj=io.BytesIO(image.data),
            image_type=image.image_type,
            dermoscopy_mode=image.dermoscopy_mode,
        )
    audit_event(
        user, "interop.fhir_import", referral, images=len(plan.images), lesions=len(plan.lesions)
    )
    return referral


def transaction_response(referral: Referral) -> dict[str, Any]:
    """The transaction-response Bundle: where the new referral and its lesions live."""
    entries = [
        {"response": {"status": "201 Created", "location": f"ServiceRequest/{referral.reference}"}}
    ]
    entries += [
        {
            "response": {
                "status": "201 Created",
                "location": f"BodyStructure/{referral.pk}-{lesion.number}",
            }
        }
        for lesion in referral.lesions.all()
    ]
    return fhir.validated(
        {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    )


# ---------------------------------------------------------------- FHIR reads


# A search parameter's FHIR type where it is not a token.
_PARAM_TYPE = {
    "date": "date",
    "start": "date",
    "actor": "reference",
    "location": "reference",
    "schedule": "reference",
    "slot": "reference",
    "_count": "number",
}


def capability_statement(base_url: str) -> dict[str, Any]:
    """What the FHIR endpoint offers (R4, JSON only)."""

    def resource(kind: str, interactions: list[str], params: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        found: dict[str, Any] = {"type": kind, "interaction": [{"code": i} for i in interactions]}
        if params:
            found["searchParam"] = [
                {"name": p, "type": _PARAM_TYPE.get(p, "token")} for p in params
            ]
        return found

    return fhir.validated(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": timezone.now().date().isoformat(),
            "kind": "instance",
            "software": {"name": "DermBridge"},
            "implementation": {
                "description": "DermBridge teledermatology FHIR endpoint",
                "url": base_url,
            },
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": "DRF token (Authorization: Token ...) or a signed-in session."
                    },
                    "resource": [
                        resource("ServiceRequest", ["read", "search-type"], ["patient.identifier"]),
                        resource("Patient", ["read"]),
                        resource("Binary", ["read"]),
                        # Histology from a laboratory, matched by the biopsy request (issue #14).
                        resource("DiagnosticReport", ["create", "read"]),
                        *(
                            resource(kind, ["read", "search-type"], names)
                            for kind, names in SCHEDULING_SEARCH.items()
                        ),
                    ],
                    "interaction": [{"code": "transaction"}],
                }
            ],
        }
    )


def search_service_requests(nhs_number: str, *, user: User) -> dict[str, Any]:
    """The referrals of one patient (by NHS number) that `user` may see, as a searchset; audited."""
    digits = "".join(ch for ch in nhs_number if ch in "0123456789")
    referrals = list(
        Referral.objects.visible_to(user)
        .filter(patient__nhs_number=digits)
        .select_related("patient", "referrer", "referring_org", "service")
        .prefetch_related("lesions")
        .order_by("-created_at")
    )
    for referral in referrals:
        audit_event(user, "referral.view_fhir", referral, via="search")
    entries = [
        {
            "fullUrl": f"{settings.SITE_URL}/fhir/ServiceRequest/{r.reference}",
            "resource": rest_service_request_resource(r),
            "search": {"mode": "match"},
        }
        for r in referrals
    ]
    return fhir.validated(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "entry": entries or None,
        }
    )


def audit_patient_read(patient: Any, *, user: User) -> None:
    record(user, "patient.view_fhir", patient)
