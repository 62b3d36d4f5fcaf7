"""``dermbridge check-image [--out DIR] FILE...``: judge photos as the upload pipeline would.

Runs intake, normalisation, the quality gate and the derivatives with no database,
and prints one JSON object per file per line. With ``--out`` the derivatives are
written, unencrypted because the user asked for them, under DIR/<file stem>/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dermbridge.imaging.pipeline import (
    DECLARED_TYPES,
    ImageRejected,
    PipelineConfig,
    ProcessedImage,
    process_image,
)


class Command(BaseCommand):
    help = "Check photos with the image pipeline (no database); one JSON line per file."
    requires_system_checks: list[str] = []  # type: ignore[assignment]
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--out", type=Path, help="write the derivatives under this folder")
        parser.add_argument(
            "--type",
            dest="declared_type",
            choices=DECLARED_TYPES,
            default="close_up",
            help="what the photos are meant to be (default close_up)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path | None = options["out"]
        config = PipelineConfig(
            max_bytes=int(getattr(settings, "MAX_UPLOAD_BYTES", PipelineConfig.max_bytes))
        )
        used_folders: set[str] = set()
        unreadable = 0
        for given in options["files"]:
            record: dict[str, Any] = {
                "file": given,
                "accepted": False,
                "reason": None,
                "code": None,
                "quality": {},
                "derivatives": {},
            }
            try:
                with open(given, "rb") as handle:
                    result = process_image(
                        handle, declared_type=options["declared_type"], config=config
                    )
            except ImageRejected as rejected:
                record.update(reason=rejected.reason, code=rejected.code)
            except OSError as error:
                unreadable += 1
                record.update(reason=f"Cannot read the file: {error.strerror}", code="unreadable")
            else:
                record["accepted"] = True
                record["quality"] = {k: v.as_dict() for k, v in result.quality.items()}
                record["perceptual_hash"] = result.perceptual_hash
                if out is not None:
                    folder = _unique_folder(out, Path(given).stem, used_folders)
                    record["derivatives"] = _write(result, folder)
            self.stdout.write(json.dumps(record))
        if unreadable:
            raise CommandError(f"{unreadable} file(s) could not be read", returncode=2)


def _unique_folder(out: Path, stem: str, used: set[str]) -> Path:
    name, counter = stem or "image", 2
    while name in used or (out / name).exists():
        name, counter = f"{stem}-{counter}", counter + 1
    used.add(name)
    return out / name


def _write(result: ProcessedImage, folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=False)
    written = {}
    for name, derivative in result.derivatives.items():
        path = folder / f"{name}.{derivative.extension}"
        path.write_bytes(derivative.data)
        written[name] = str(path)
    return written
