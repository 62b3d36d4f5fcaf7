"""Who may run a hub's clinics: its photographers and its service administrators.

A hub is an Organisation of the imaging-hub kind. Its photographers book, move and cancel
appointments and record visits; its service administrators do that too and also define the
clinics (sites, sessions, weekly templates, closures). Anyone else asking for a hub's pages or
objects is answered 404, so another organisation learns nothing.
"""

from __future__ import annotations

from dermbridge.accounts.models import Organisation, OrganisationKind, Role, User
from dermbridge.core.errors import NotPermitted

HUB_STAFF_ROLES = (Role.PHOTOGRAPHER, Role.SERVICE_ADMIN)


def staff_hubs(user: User) -> list[Organisation]:
    """The hubs where `user` is a photographer or a service administrator."""
    if not user.is_authenticated:
        return []
    ids = user.organisation_ids(*HUB_STAFF_ROLES)
    return list(Organisation.objects.filter(pk__in=ids, kind=OrganisationKind.IMAGING_HUB))


def staff_hub(user: User, hub_id: int) -> Organisation | None:
    """The hub if `user` works there (photographer or service administrator), else None."""
    if not user.is_authenticated or hub_id not in user.organisation_ids(*HUB_STAFF_ROLES):
        return None
    return Organisation.objects.filter(pk=hub_id, kind=OrganisationKind.IMAGING_HUB).first()


def is_hub_staff(user: User, hub: Organisation) -> bool:
    return hub.kind == OrganisationKind.IMAGING_HUB and bool(
        hub.pk in user.organisation_ids(*HUB_STAFF_ROLES)
    )


def is_hub_admin(user: User, hub: Organisation) -> bool:
    return hub.kind == OrganisationKind.IMAGING_HUB and user.has_role(Role.SERVICE_ADMIN, hub.pk)


def check_staff(user: User, hub: Organisation) -> None:
    if not is_hub_staff(user, hub):
        raise NotPermitted(f"Only {hub.name}'s photographers and administrators can do this.")


def check_admin(user: User, hub: Organisation) -> None:
    if not is_hub_admin(user, hub):
        raise NotPermitted(f"Only {hub.name}'s service administrators can change its clinics.")
