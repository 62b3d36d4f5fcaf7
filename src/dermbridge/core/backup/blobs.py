"""The blob store's part of a backup: the filesystem backend's files copied (with their sha256),
or the S3 bucket's object keys with their versions and ETags listed, and that listing checked
against the bucket after a restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from .common import BLOBS_DIR, S3_MANIFEST, Progress, _copy_hashed


def _copy_blob_files(root: Path, dest: Path, progress: Progress) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    if not root.exists():
        return files
    for path in sorted(root.rglob("*")):
        if path.name.startswith(".tmp-") or not path.is_file():
            continue  # interrupted writes are not data
        rel = path.relative_to(root).as_posix()
        try:
            size, digest = _copy_hashed(path, dest / rel)
        except FileNotFoundError:
            continue  # removed while we copied (a sweep, a processed upload): not in the snapshot
        files[f"{BLOBS_DIR}/{rel}"] = {"size": size, "sha256": digest}
        if len(files) % 1000 == 0:
            progress(f"  {len(files)} blob files copied")
    return files


def _s3_listing(dest: Path) -> dict[str, Any]:
    """The bucket's objects with versions (when versioning is on) and ETags: S3 keeps the data."""
    from dermbridge.imaging.storage import blob_store

    backend: Any = blob_store().backend
    client, bucket, prefix = backend.client, backend.bucket, backend.prefix
    versioning = client.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")
    objects = []
    if versioning == "Enabled":
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Versions", []):
                if item.get("IsLatest"):
                    objects.append(
                        {
                            "key": item["Key"],
                            "version_id": item.get("VersionId"),
                            "etag": item.get("ETag", "").strip('"'),
                            "size": item.get("Size", 0),
                        }
                    )
    else:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                objects.append(
                    {
                        "key": item["Key"],
                        "version_id": None,
                        "etag": item.get("ETag", "").strip('"'),
                        "size": item.get("Size", 0),
                    }
                )
    listing = {
        "bucket": bucket,
        "prefix": prefix,
        "endpoint_url": settings.S3_ENDPOINT_URL,
        "versioning": versioning,
        "objects": objects,
    }
    (dest / S3_MANIFEST).write_text(json.dumps(listing, indent=1))
    return listing


def _check_s3(src: Path) -> list[str]:
    """S3 keeps the photos: check every object the manifest lists is still there."""
    from dermbridge.imaging.storage import blob_store

    listing = json.loads((src / S3_MANIFEST).read_text())
    backend: Any = blob_store().backend
    missing = []
    for item in listing["objects"]:
        kwargs = {"Bucket": listing["bucket"], "Key": item["key"]}
        if item.get("version_id"):
            kwargs["VersionId"] = item["version_id"]
        try:
            backend.client.head_object(**kwargs)
        except Exception:  # botocore ClientError; boto3 is optional
            missing.append(item["key"])
    if missing:
        return [
            f"{len(missing)} of {len(listing['objects'])} objects listed in {S3_MANIFEST} are "
            f"not in bucket {listing['bucket']} (first: {missing[0]}): restore them from the "
            "bucket's versions or replica."
        ]
    return []
