"""The append-only, hash-chained record of who read or changed patient data."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.db import models

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One read or write of patient data: who, from which organisation, what, when, from where."""

    seq = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    organisation_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The chain (shard) this event belongs to and its position there (ADR 0008): appends to
    # different shards never wait for each other. Events from before sharding are shard 1.
    shard = models.PositiveSmallIntegerField(default=1)
    shard_seq = models.BigIntegerField()

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["shard", "shard_seq"], name="audit_shard_position")
        ]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["actor_id", "at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    def canonical(self, keyed: bool = False) -> bytes:
        """The bytes the hash covers: every field but the hash itself, in a fixed order. A keyed
        event is placed by its shard and position (its row id `seq` comes from the database)."""
        position: dict[str, Any] = (
            {"shard": self.shard, "shard_seq": self.shard_seq} if keyed else {"seq": self.seq}
        )
        payload: dict[str, Any] = {
            **position,
            "at": self.at.isoformat(),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "organisation_id": self.organisation_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "request_id": self.request_id,
            "client_address": self.client_address,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()

    def compute_hash(self, key: bytes | None = None) -> str:
        """HMAC-SHA256 under the audit key (events from `AuditHead.keyed_from` on); a plain
        sha256 without a key (events written before the chain was keyed)."""
        if key is None:
            return hashlib.sha256(self.canonical()).hexdigest()
        return hmac.new(key, self.canonical(keyed=True), hashlib.sha256).hexdigest()


class AuditHead(models.Model):
    """One shard's tip (`id` is the shard): lets verification notice rows removed from the end.
    `last_seq` is the shard's last `shard_seq`."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    count = models.BigIntegerField(default=0)
    # The first event hashed with the audit key (HMAC); earlier ones are plain sha256. Set by the
    # first keyed append; seals repeat it, so moving it (a downgrade) is noticed.
    keyed_from = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"audit head at #{self.last_seq}"
