"""Blobs as objects in an S3-compatible bucket (boto3, an optional dependency)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dermbridge.imaging.blobstore.errors import BlobNotFound, BlobStoreError


class S3Backend:
    """Blobs as objects in an S3-compatible bucket (boto3, an optional dependency)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, **client_kwargs: Any):
        if client is None:
            try:
                import boto3  # type: ignore[import-not-found]
            except ImportError as exc:
                raise BlobStoreError(
                    "The S3 blob backend needs boto3: pip install 'dermbridge[s3]'."
                ) from exc
            client = boto3.client("s3", **client_kwargs)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def read(self, name: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(name) from None
        return bytes(response["Body"].read())

    def write(self, name: str, data: bytes) -> None:
        # A single PUT is atomic in S3: readers see the old object or the new one.
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def exists(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        except Exception as exc:  # botocore ClientError; boto3 is optional
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def names(self, suffix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if key.endswith(suffix):
                    yield key

    def modified(self, name: str) -> float | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        except Exception as exc:  # botocore ClientError; boto3 is optional
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return float(head["LastModified"].timestamp())

    def touch(self, name: str) -> None:
        # S3 has no touch: copying an object onto itself with new metadata renews its date.
        key = self.prefix + name
        self.client.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": key},
            MetadataDirective="REPLACE",
        )

    def listing(self) -> Iterator[tuple[str, float]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :], item["LastModified"].timestamp()
