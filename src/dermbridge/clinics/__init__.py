"""Community imaging hubs: clinic sessions and slots, appointments, the photographer's day
(issue #13; docs/adr/0013-clinics.md)."""
