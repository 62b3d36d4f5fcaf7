"""The imaging app's service interface: what the other apps and the pages call.

The work is in modules of its own, each with one concern, and re-exported here:

- `intake`: the one way in for images (photos and DICOM, by content), stored then queued;
- `processing`: the pipeline task, its retries, and re-queuing images left behind;
- `image_sets`: the image set each lesion needs (per service and pathway);
- `removal`: removing photos from a draft; keeping those a decision used;
- `reads`: every read of a photo or its status, audited;
- `blob_gc`: collecting blobs no row names.
"""

from __future__ import annotations

from dermbridge.imaging.blob_gc import referenced_blob_addresses, sweep_blobs
from dermbridge.imaging.image_sets import (
    DEFAULT_REQUIRED,
    image_set_problems,
    lesion_image_set,
    pipeline_config,
    required_types,
)
from dermbridge.imaging.intake import (
    EDITABLE_STATES,
    MAX_IMAGES_PER_LESION,
    accept_photo,
    accept_photos,
    accept_upload,
    accept_uploads,
)
from dermbridge.imaging.processing import process_lesion_image, requeue_stuck_images
from dermbridge.imaging.reads import VIEWABLE, earlier_images, images_visible_to, read_derivative
from dermbridge.imaging.removal import (
    delete_image,
    discard_draft_images,
    mark_images_used_for_decision,
)

__all__ = [
    "DEFAULT_REQUIRED",
    "EDITABLE_STATES",
    "MAX_IMAGES_PER_LESION",
    "VIEWABLE",
    "accept_photo",
    "accept_photos",
    "accept_upload",
    "accept_uploads",
    "delete_image",
    "discard_draft_images",
    "earlier_images",
    "image_set_problems",
    "images_visible_to",
    "lesion_image_set",
    "mark_images_used_for_decision",
    "pipeline_config",
    "process_lesion_image",
    "read_derivative",
    "referenced_blob_addresses",
    "requeue_stuck_images",
    "required_types",
    "sweep_blobs",
]
