"""One source for every clinical term (issue #11, item 4).

A term's label is written once: on the model's ``TextChoices`` or in ``dermbridge.vocabulary``.
Forms, serializers, FHIR mapping, letters and templates read it from there. These tests read
the source (not the running pages), so a second copy fails here even before it disagrees:

- no two ``TextChoices`` classes share a name or copy each other's terms;
- no module keeps its own table of a vocabulary's labels (a dict or a list of pairs keyed by
  two or more terms of one vocabulary: how ``HISTORY_TEXT`` in the FHIR mapping and
  ``HISTORY_LABELS`` in the web forms came to word the same questions differently);
- no module or template writes out a vocabulary label of its own (a string or a template's
  text equal to a label of two words or more, or to a question).

``KNOWN_COPIES`` lists the copies still left in modules that other slices of issue #11 own;
each entry fails the test once its copy is gone, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models
from django.utils.text import capfirst

from dermbridge.vocabulary import HISTORY_QUESTIONS

SRC = Path(__file__).resolve().parents[2]  # src/dermbridge
HISTORY = "HISTORY_QUESTIONS"
DEFINITION = (Path("vocabulary/history.py"), HISTORY)

# (module or template, vocabulary, label): a copy still to be removed by the module's owner,
# who reads the label from the vocabulary instead. Remove the entry with the copy.
KNOWN_COPIES: set[tuple[str, str, str]] = set()  # none left
# Headings that read like a label but head something else: the review page's compact history
# summary groups the questions under its own headings ("Changed in size / shape / colour"), one
# of which names a single question; the check page lists the questions answered "Not known";
# the dashboard counts the decisions that mean seeing the patient face to face.
HEADINGS = {
    ("web/templates/web/referral_detail.html", HISTORY, "Sun exposure"),
    ("web/templates/web/referral_check.html", "Presence", "Not known"),
    ("web/templates/web/referral_check.html", "Sex", "Not known"),
    ("reporting/templates/reporting/dashboard.html", "PatientToldMethod", "Face to face"),
}
# Answers two vocabularies word alike and define each on their own: "Not known" answers a
# history question and the patient's sex; a patient told by letter, a message sent by letter.
SHARED_ANSWERS = {("unknown", "Not known"), ("letter", "Letter")}


def project_choices() -> list[type[models.TextChoices]]:
    """Every TextChoices class the project defines (apps' models, the vocabulary)."""
    import dermbridge.vocabulary.choices  # noqa: F401  (defines some of them)

    apps.get_models()  # every app's models module is imported
    found: list[type[models.TextChoices]] = []
    todo = list(models.TextChoices.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        module = cls.__module__
        if module.startswith("dermbridge.") and ".tests" not in module:
            found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


@dataclass(frozen=True)
class Vocabulary:
    name: str
    labels: dict[str, str]  # term -> label
    members: dict[str, str]  # member name (ADVICE) -> term (ag)


# Apps whose choices are clinical or workflow vocabulary (not people's roles, key states).
CLINICAL = ("vocabulary", "referrals", "imaging", "patients", "triage", "notifications")


def vocabularies() -> list[Vocabulary]:
    found = [
        Vocabulary(
            c.__name__,
            {str(m.value): str(m.label) for m in c},
            {m.name: str(m.value) for m in c},
        )
        for c in project_choices()
        if c.__module__.split(".")[1] in CLINICAL
    ]
    return [*found, Vocabulary(HISTORY, dict(HISTORY_QUESTIONS), {})]


def tracked(label: str) -> bool:
    """Labels specific enough that a string equal to one is a copy, not a common word."""
    return len(label.split()) >= 2 or label.endswith("?")


@dataclass(frozen=True)
class Copy:
    where: str
    vocabulary: str
    label: str  # "*table*" for a table of the vocabulary's labels
    line: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.where, self.vocabulary, self.label)


def source_files() -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        if "tests" in parts or "migrations" in parts or path.name == "conftest.py":
            continue
        yield path


def _is_choices_class(node: ast.ClassDef) -> bool:
    return any(
        (isinstance(b, ast.Attribute) and b.attr == "TextChoices")
        or (isinstance(b, ast.Name) and b.id == "TextChoices")
        for b in node.bases
    )


def _term(node: ast.expr | None, vocab: Vocabulary) -> str | None:
    """The term a table key names: "ag", or ReferralKind.ADVICE / ReferralKind.ADVICE.value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if node.value in vocab.labels else None
    if isinstance(node, ast.Attribute) and node.attr == "value":
        node = node.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == vocab.name
    ):
        return vocab.members.get(node.attr)
    return None


def _pairs(node: ast.AST) -> list[tuple[ast.expr | None, ast.expr]]:
    """(key, label) entries of a dict literal or of a list / tuple of pairs."""
    if isinstance(node, ast.Dict):
        return list(zip(node.keys, node.values, strict=True))
    if isinstance(node, ast.List | ast.Tuple):
        return [
            (e.elts[0], e.elts[1])
            for e in node.elts
            if isinstance(e, ast.Tuple | ast.List) and len(e.elts) == 2
        ]
    return []


def copies_in_module(path: Path, vocabs: list[Vocabulary]) -> list[Copy]:
    where = str(path.relative_to(SRC))
    tree = ast.parse(path.read_text(), filename=where)
    definitions: set[int] = set()  # ids of nodes that define a vocabulary (not copies)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and _is_choices_class(node):
            definitions.update(id(n) for n in ast.walk(node))
        if (
            (Path(where), HISTORY) == DEFINITION
            and isinstance(node, ast.AnnAssign | ast.Assign)
            and HISTORY in ast.unparse(node).split(":")[0].split("=")[0]
        ):
            definitions.update(id(n) for n in ast.walk(node))
    labels: dict[str, set[str]] = defaultdict(set)  # label -> vocabularies
    for vocab in vocabs:
        for label in vocab.labels.values():
            if tracked(label):
                labels[label].add(vocab.name)
    found: list[Copy] = []
    for node in ast.walk(tree):
        if id(node) in definitions:
            continue
        entries = _pairs(node)
        for vocab in vocabs if len(entries) >= 2 else ():
            table = {
                t: value.value
                for key, value in entries
                if isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and (t := _term(key, vocab)) is not None
            }
            # Two or more of the vocabulary's terms, worded at least once as the vocabulary
            # words it: a copy of its labels. (A table of codes, colours or whole sentences
            # per term, such as a patient's message per pathway, says something else.)
            written = {label.lower() for label in vocab.labels.values()}
            if len(table) >= 2 and any(v.lower() in written for v in table.values()):
                found.append(Copy(where, vocab.name, "*table*", getattr(node, "lineno", 0)))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for name in labels.get(node.value, ()):
                found.append(Copy(where, name, node.value, node.lineno))
    return found


def template_copies(vocabs: list[Vocabulary]) -> list[Copy]:
    found: list[Copy] = []
    for path in sorted(SRC.glob("*/templates/**/*.html")):
        text = path.read_text()
        where = str(path.relative_to(SRC))
        for vocab in vocabs:
            for label in vocab.labels.values():
                if not tracked(label) or label not in text:
                    continue
                for match in re.finditer(rf">\s*{re.escape(label)}\s*<", text):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(Copy(where, vocab.name, label, line))
    return found


@pytest.fixture(scope="module")
def all_copies() -> list[Copy]:
    vocabs = vocabularies()
    found = [c for path in source_files() for c in copies_in_module(path, vocabs)]
    return found + template_copies(vocabs)


def test_each_choices_class_is_defined_once_and_copies_no_other() -> None:
    """GIVEN every TextChoices class of the project's apps and the vocabulary module
    THEN no two share a name (one would be a second copy of the other) and no term is written
    out with its label in two of them (one derives it from the other instead)."""
    names = [c.__name__ for c in project_choices()]
    assert sorted(n for n in names if names.count(n) > 1) == []
    written: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ClassDef) and _is_choices_class(node)):
                continue
            for statement in node.body:
                pair = statement.value if isinstance(statement, ast.Assign) else None
                if isinstance(pair, ast.Tuple) and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in pair.elts
                ):
                    value, label = (e.value for e in pair.elts)  # type: ignore[attr-defined]
                    written[(value, label)].append(node.name)
    twice = {term: where for term, where in written.items() if len(where) > 1}
    assert set(twice) <= SHARED_ANSWERS, twice


def test_no_module_or_template_keeps_its_own_copy_of_a_label(all_copies: list[Copy]) -> None:
    """GIVEN every module and template outside the tests
    WHEN read for tables of a vocabulary's labels and for labels written out
    THEN the only ones left are those listed as known copies (modules of other slices) and
    the review page's summary headings."""
    allowed = KNOWN_COPIES | HEADINGS
    unexpected = sorted(
        f"{c.where}:{c.line}: {c.vocabulary} {c.label!r}"
        for c in all_copies
        if c.key not in allowed
    )
    assert unexpected == [], "read these labels from the model's TextChoices or vocabulary"


def test_every_known_copy_is_still_there(all_copies: list[Copy]) -> None:
    """An entry of KNOWN_COPIES whose copy is gone must leave the list (it only shrinks)."""
    present = {c.key for c in all_copies}
    assert sorted(KNOWN_COPIES - present) == []


def test_every_history_question_is_written_once(all_copies: list[Copy]) -> None:
    """GIVEN the history questions of the minimum dataset
    THEN each is written once in src outside the tests, in dermbridge.vocabulary (the FHIR
    mapping's HISTORY_TEXT and the form's HISTORY_LABELS each had their own wording)."""
    written = {c.label for c in all_copies if c.vocabulary == HISTORY}
    known = {label for _, vocabulary, label in KNOWN_COPIES if vocabulary == HISTORY}
    headings = {label for _, vocabulary, label in HEADINGS if vocabulary == HISTORY}
    assert written - {"*table*"} <= known | headings
    tables = sorted(c.where for c in all_copies if c.vocabulary == HISTORY and c.label == "*table*")
    assert tables == []


@pytest.mark.django_db
def test_form_fhir_and_letter_ask_the_same_history_questions() -> None:
    """GIVEN a referral with every history answer given
    WHEN the history form is drawn and the history leaves as a FHIR QuestionnaireResponse
    THEN each question reads the same in both (the form only marks the optional detail)."""
    from dermbridge.interop.fhir.clinical import questionnaire_response_resource
    from dermbridge.referrals.models import ClinicalHistory, Referral
    from dermbridge.web.forms import HistoryForm

    form = HistoryForm()
    shown = {
        name: str(field.label).removesuffix(" (optional)") for name, field in form.fields.items()
    }
    assert shown == HISTORY_QUESTIONS
    history = ClinicalHistory(referral=Referral(pk=1, reference="DB-TEST123", patient_id=1))
    for name in HISTORY_QUESTIONS:
        field = ClinicalHistory._meta.get_field(name)
        value = field.choices[0][0] if field.choices else "text"  # type: ignore[union-attr, index]
        setattr(history, name, value)
    resource = questionnaire_response_resource(history.referral, history)
    asked = {item["linkId"]: item["text"] for item in resource["item"]}
    assert asked == HISTORY_QUESTIONS


def test_fitzpatrick_is_named_as_the_patient_record_names_it() -> None:
    """The referral form and the letter name the skin type as the Patient field does."""
    from dermbridge.patients.models import Patient
    from dermbridge.web.forms import PatientForm

    assert PatientForm().fields["fitzpatrick"].label == capfirst(
        Patient._meta.get_field("fitzpatrick").verbose_name
    )
