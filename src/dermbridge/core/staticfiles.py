"""Static files with content-hashed names, compressed, for whitenoise's far-future caching."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """whitenoise's manifest storage (``app.3f9c2a1b.js``, gzip and brotli copies), with two changes.

    - ES module imports between our scripts and the vendored ones (``import ... from
      "../nhsuk/nhsuk-frontend.min.js"``) are rewritten to the hashed names too, so every script a
      page loads is cacheable for ever.
    - An asset that was never collected (``collectstatic`` not run: the test suite, a development
      ``runserver``) is addressed by its plain name instead of failing the page; whitenoise's
      finders serve it where they are on (DEBUG, demo mode), and the system check
      dermbridge.W103 says when a production server has nothing collected.
    """

    support_js_module_import_aggregation = True
    manifest_strict = False

    def stored_name(self, name: str) -> str:
        if not self.hashed_files:
            # Nothing collected (no manifest): the plain name, whatever stray files the static
            # root may hold (hashing one of those would name a file the finders do not serve).
            return name
        return str(super().stored_name(name))  # collected: a name not there is a real mistake
