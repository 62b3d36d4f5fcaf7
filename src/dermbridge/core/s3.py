"""One S3 client configuration for every user of the object store: the photo blobs (imaging),
the copies of the audit seals (audit), the backup manifest (core.backup).

Endpoint, region and addressing style come from `DERMBRIDGE_S3_ENDPOINT_URL`,
`DERMBRIDGE_S3_REGION` and `DERMBRIDGE_S3_ADDRESSING_STYLE`; credentials from boto3's usual
chain (environment, `AWS_SHARED_CREDENTIALS_FILE`, instance role). boto3 is an optional
dependency (`dermbridge[s3]`), imported only when a client is made.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def client_kwargs() -> dict[str, Any]:
    """The keyword arguments for `boto3.client("s3", ...)` this deployment is configured with."""
    kwargs: dict[str, Any] = {"endpoint_url": settings.S3_ENDPOINT_URL or None}
    if settings.S3_REGION:
        kwargs["region_name"] = settings.S3_REGION
    if settings.S3_ADDRESSING_STYLE != "auto":
        from botocore.config import Config  # type: ignore[import-not-found]

        kwargs["config"] = Config(s3={"addressing_style": settings.S3_ADDRESSING_STYLE})
    return kwargs


def s3_client() -> Any:
    """A boto3 S3 client for this deployment; ImportError when boto3 is not installed."""
    import boto3  # type: ignore[import-not-found]

    return boto3.client("s3", **client_kwargs())
