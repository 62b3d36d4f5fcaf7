"""One source for the clinical and service terms that more than one app uses.

Every label a person reads for one of these terms is written once, here or on the model's
``TextChoices``; forms, serializers, FHIR mapping, letters and templates read it from there
(``core/tests/test_vocabulary.py`` fails when a label is written twice).

This package imports no app, so every layer may use it (.importlinter puts it with
``dermbridge.config`` at the bottom): ``accounts`` validates a service's rules against the
pathway, image-type and quality-check vocabularies without importing ``referrals`` or
``imaging``.

- ``dermbridge.vocabulary`` (this module): plain data, no Django, so the image pipeline may
  import it too: the history questions and the image quality checks.
- ``dermbridge.vocabulary.choices``: the terms stored in model fields, as Django
  ``TextChoices`` (pathways, image types); the models re-export them under their old names.
"""

from __future__ import annotations

from dermbridge.vocabulary.history import HISTORY_QUESTIONS
from dermbridge.vocabulary.quality import QUALITY_CHECKS

__all__ = ["HISTORY_QUESTIONS", "QUALITY_CHECKS"]
