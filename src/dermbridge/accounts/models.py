"""Organisations, people and the roles they hold."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from dermbridge.core.rows import read_prepared_values


class OrganisationKind(models.TextChoices):
    GP_PRACTICE = "gp_practice", "GP practice"
    IMAGING_HUB = "imaging_hub", "Imaging hub"
    DERMATOLOGY_SERVICE = "dermatology_service", "Dermatology service"


class Role(models.TextChoices):
    REFERRER = "referrer", "Referrer"
    PHOTOGRAPHER = "photographer", "Photographer"
    DERMATOLOGIST = "dermatologist", "Dermatologist"
    SERVICE_ADMIN = "service_admin", "Service administrator"


CLINICAL_ROLES = frozenset({Role.REFERRER, Role.PHOTOGRAPHER, Role.DERMATOLOGIST})


class Organisation(models.Model):
    """A GP practice, community imaging hub or hospital dermatology service."""

    kind = models.CharField(max_length=32, choices=OrganisationKind.choices)
    name = models.CharField(max_length=200)
    ods_code = models.CharField("ODS code", max_length=10, unique=True)
    email = models.EmailField(blank=True)
    # What a patient is told to call about their referral (dermatology services): shown on the
    # patient's status page and in their messages with the referral's reference.
    patient_phone = models.CharField(
        "Phone number for patients", max_length=30, blank=True, help_text="e.g. 0161 496 0000"
    )
    patient_phone_hours = models.CharField(
        "When the phone is answered",
        max_length=100,
        blank=True,
        help_text="e.g. Monday to Friday, 9am to 5pm",
    )
    # Service configuration (dermatology services only).
    ag_target_working_days = models.PositiveSmallIntegerField(
        "A&G response target (working days)", default=2
    )
    ras_target_working_days = models.PositiveSmallIntegerField(
        "Referral triage target (working days)", default=5
    )
    near_breach_working_days = models.PositiveSmallIntegerField(
        "Warn this many working days before a target", default=1
    )
    blocking_quality_checks = models.JSONField(
        default=list, blank=True, help_text="Image quality checks that block submission."
    )
    required_image_types = models.JSONField(
        default=dict,
        blank=True,
        help_text="Image set required per lesion, by pathway; empty uses the default rules.",
    )
    allow_ai_discharge = models.BooleanField(
        "Allow AI low-risk discharge without dermatologist confirmation", default=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    @property
    def is_service(self) -> bool:
        return self.kind == OrganisationKind.DERMATOLOGY_SERVICE

    def clean(self) -> None:
        """A mistyped service rule would silently block every submission: refuse it here (the
        admin form calls this), naming what is allowed."""
        from django.core.exceptions import ValidationError

        from dermbridge.vocabulary import QUALITY_CHECKS
        from dermbridge.vocabulary.choices import ImageType, ReferralKind

        errors: dict[str, list[str]] = {}
        checks = self.blocking_quality_checks
        if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
            errors["blocking_quality_checks"] = ['Give a list of check names, e.g. ["blur"].']
        elif unknown := sorted(set(checks) - set(QUALITY_CHECKS)):
            errors["blocking_quality_checks"] = [
                f"Unknown quality checks {', '.join(unknown)}; "
                f"the checks are {', '.join(QUALITY_CHECKS)}."
            ]
        rules = self.required_image_types
        problems: list[str] = []
        if not isinstance(rules, dict):
            problems.append("Give an object keyed by pathway (ag, ras, usc).")
        else:
            for kind, sets in rules.items():
                if kind not in ReferralKind.values:
                    problems.append(
                        f"Unknown pathway {kind!r}; use {', '.join(ReferralKind.values)}."
                    )
                    continue
                if not isinstance(sets, dict) or not set(sets) <= {"all", "pigmented"}:
                    problems.append(f"{kind}: give 'all' and optionally 'pigmented' lists.")
                    continue
                for key, types in sets.items():
                    bad = (
                        [t for t in types if t not in ImageType.values]
                        if isinstance(types, list)
                        else [str(types)]
                    )
                    if bad:
                        problems.append(
                            f"{kind}.{key}: unknown image types {', '.join(map(str, bad))}; "
                            f"use {', '.join(ImageType.values)}."
                        )
        if problems:
            errors["required_image_types"] = problems
        if errors:
            raise ValidationError(errors)


class User(AbstractUser):
    """A person who signs in: a clinician, photographer or service administrator."""

    job_title = models.CharField(max_length=120, blank=True)
    professional_registration = models.CharField(
        max_length=40, blank=True, help_text="GMC/NMC/HCPC number, shown on advice and outcomes."
    )

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def memberships_for(self, *roles: str) -> models.QuerySet[Membership]:
        qs = self.memberships.select_related("organisation")  # type: ignore[attr-defined]
        return qs.filter(role__in=roles) if roles else qs

    def held_roles(self) -> list[tuple[str, int]]:
        """(role, organisation id) of every membership: read once per user object (a request's
        user), so the several role checks of one page cost one query, a statement prepared once
        per process (core.rows: every page and photo asks this)."""
        held: list[tuple[str, int]] | None = self.__dict__.get("_held_roles")
        if held is None:
            held = [(role, org) for role, org, _ in self.held_memberships()]
            self.__dict__["_held_roles"] = held
        return held

    def held_memberships(self) -> list[tuple[str, int, str]]:
        """(role, organisation id, organisation kind) of every membership, read with
        `held_roles` in the same query (the navigation asks the kinds on every page)."""
        held: list[tuple[str, int, str]] | None = self.__dict__.get("_held_memberships")
        if held is None and self.pk is None:
            held = []
        elif held is None:
            held = read_prepared_values(  # type: ignore[assignment]
                ("accounts.held_memberships",),
                lambda user_id: Membership.objects.filter(user_id=user_id).values_list(
                    "role", "organisation_id", "organisation__kind"
                ),
                args=(self.pk,),
            )
            self.__dict__["_held_memberships"] = held
        return held  # type: ignore[return-value]

    def organisation_ids(self, *roles: str, kind: str | None = None) -> set[int]:
        """Ids of the organisations where this user holds any of `roles` (any role if none);
        with `kind`, only organisations of that kind (from the same one read)."""
        return {
            org
            for role, org, org_kind in self.held_memberships()
            if (not roles or role in roles) and (kind is None or org_kind == kind)
        }

    def has_role(self, role: str, organisation_id: int | None = None) -> bool:
        ids = self.organisation_ids(role)
        return bool(ids) if organisation_id is None else organisation_id in ids

    @property
    def is_clinical(self) -> bool:
        return bool(self.organisation_ids(*CLINICAL_ROLES))

    @property
    def roles(self) -> set[str]:
        return {role for role, _ in self.held_roles()}


class Membership(models.Model):
    """A person's role at one organisation; a person may work for several."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"], name="unique_membership_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.organisation.name}"
