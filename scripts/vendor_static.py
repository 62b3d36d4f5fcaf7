"""Copy the npm front-end assets the pages use into the Python package (make install runs this).

The NHS.UK design system (nhsuk-frontend: compiled CSS and JS, icons) and @panzoom/panzoom (the
review page's image viewer) come from npm (package.json, package-lock.json) into node_modules/.
Django finds static files in the installed package, not in the checkout, so this copies what the
pages load into src/dermbridge/core/static/ (git-ignored, shipped as package data): a wheel built
after `make install` carries them, and `dermbridge collectstatic` on a server needs no Node.js.
Source-map comments are dropped (the maps stay in node_modules). vendor.json records the versions.

    python scripts/vendor_static.py [--check]
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "node_modules"
DEST = ROOT / "src" / "dermbridge" / "core" / "static"
# (npm package, file or folder inside it, where under DEST)
FILES = [
    ("nhsuk-frontend", "dist/nhsuk/nhsuk-frontend.min.css", "nhsuk/nhsuk-frontend.min.css"),
    ("nhsuk-frontend", "dist/nhsuk/nhsuk-frontend.min.js", "nhsuk/nhsuk-frontend.min.js"),
    ("nhsuk-frontend", "dist/nhsuk/assets", "nhsuk/assets"),
    ("@panzoom/panzoom", "dist/panzoom.es.js", "panzoom/panzoom.es.js"),
    ("@panzoom/panzoom", "MIT-License.txt", "panzoom/MIT-License.txt"),
]
_SOURCE_MAP = re.compile(rb"\n?(/\*# sourceMappingURL=[^*]*\*/|//# sourceMappingURL=\S*)\s*$")


def versions() -> dict[str, str]:
    found = {}
    for package in sorted({package for package, _, _ in FILES}):
        manifest = json.loads((NODE / package / "package.json").read_text())
        found[package] = f"{manifest['version']} ({manifest.get('license', '?')})"
    return found


def main() -> int:
    if not NODE.is_dir():
        print("node_modules/ is missing: run `npm ci` first (make install does).", file=sys.stderr)
        return 1
    if "--check" in sys.argv:
        recorded = DEST / "vendor.json"
        if not recorded.exists() or json.loads(recorded.read_text()) != versions():
            print("src/dermbridge/core/static is stale: run python scripts/vendor_static.py")
            return 1
        return 0
    for sub in ("nhsuk", "panzoom"):
        shutil.rmtree(DEST / sub, ignore_errors=True)
    for package, source, target in FILES:
        src, dst = NODE / package / source, DEST / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.suffix in {".css", ".js"}:
            dst.write_bytes(_SOURCE_MAP.sub(b"\n", src.read_bytes()))
        else:
            shutil.copyfile(src, dst)
    (DEST / "vendor.json").write_text(json.dumps(versions(), indent=2) + "\n")
    print(f"Copied {len(FILES)} front-end assets into {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
