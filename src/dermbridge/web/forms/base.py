"""The building blocks of every page's form: NHS.UK widget classes, error messages that name
their field, the three-box date of birth, and attaching a service's field errors to fields.

Every widget gets the NHS.UK design system classes here, so templates only lay fields out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorList

BLANK = [("", "Choose…")]


def field_name(field: forms.Field, name: str) -> str:
    """The field's name as the page shows it (its label), without a trailing question mark."""
    label = str(field.label or name.replace("_", " ").capitalize())
    return label.rstrip("?:").strip()


def mentions(message: str, label: str) -> bool:
    """Whether an error message already says which field it is about."""
    words = [w for w in label.lower().replace("(", " ").replace(")", " ").split() if len(w) > 3]
    text = message.lower()
    return label.lower() in text or (bool(words) and all(w in text for w in words[:2]))


def required_message(field: forms.Field, name: str) -> str:
    """The NHS pattern: 'Enter …' for what is typed, 'Choose …' for what is picked."""
    label = field_name(field, name)
    lowered = label[0].lower() + label[1:] if label[:2] != label[:2].upper() else label
    if isinstance(field, forms.ChoiceField | forms.BooleanField):
        return f"Choose {lowered}" if not label.endswith("?") else f"Answer '{label}'"
    return f"Enter {lowered}"


def _choices(field: forms.ChoiceField) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in field.choices]  # type: ignore[union-attr, misc]


class NhsFormMixin:
    """Adds the NHS.UK classes (and error classes) to every widget of a form."""

    fields: dict[str, forms.Field]

    def style_widgets(self) -> None:
        for name, field in self.fields.items():
            field.error_messages["required"] = getattr(self, "required_messages", {}).get(
                name, required_message(field, name)
            )
            widget = field.widget
            if isinstance(widget, DateOfBirthWidget):
                continue  # draws its own three inputs
            if isinstance(widget, forms.RadioSelect):
                widget.attrs["class"] = "nhsuk-radios__input"
            elif isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "nhsuk-checkboxes__input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "nhsuk-select"
            elif isinstance(widget, forms.Textarea):
                widget.attrs.setdefault("rows", 3)
                widget.attrs["class"] = "nhsuk-textarea"
            elif isinstance(widget, forms.FileInput):
                widget.attrs["class"] = "nhsuk-file-upload"
            else:
                widget.attrs["class"] = "nhsuk-input"

    def name_errors(self) -> None:
        """Every error names its field and appears once: a message that does not already say
        which field it is about is prefixed with the field's label (the error summary is read
        on its own), and a message repeated for one field (a form's check and the service's
        own) is kept once."""
        errors = getattr(self, "_errors", None) or {}
        for name in list(errors):
            if name not in self.fields:
                continue
            label = field_name(self.fields[name], name)
            kept: list[str] = []
            for message in errors[name]:
                text = str(message)
                if not mentions(text, label):
                    text = f"{label}: {text[0].lower()}{text[1:]}" if text else label
                if text not in kept:
                    kept.append(text)
            errors[name] = ErrorList(kept)

    def mark_errors(self) -> None:
        """Error classes on fields in error, and each error message tied to its field for
        screen readers (after validation or after a service's field errors were added)."""
        self.name_errors()
        for name in getattr(self, "errors", {}):
            if name not in self.fields:
                continue
            field = self.fields[name]
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxInput):
                continue  # the fieldset / checkbox group carries the error (see field.html)
            if isinstance(widget, DateOfBirthWidget):
                widget.attrs["class"] = "nhsuk-date-input--error"
            base = widget.attrs.get("class", "")
            error_class = f"{base.split()[0]}--error" if base else ""
            if error_class and error_class not in base.split():
                widget.attrs["class"] = f"{base} {error_class}"
            auto_id = self[name].auto_id  # type: ignore[index]
            described = [f"{auto_id}_helptext"] if field.help_text else []
            widget.attrs["aria-describedby"] = " ".join([*described, f"{auto_id}-error"])


class DateOfBirthWidget(forms.Widget):
    """The NHS.UK date input: day, month and year in three boxes (never a browser date
    picker, which is slow for a birth date and reads month-first in some locales). A single
    `name` value (YYYY-MM-DD or DD/MM/YYYY) is still accepted, for API-like posts and tests."""

    PARTS = (("day", "Day", 2), ("month", "Month", 2), ("year", "Year", 4))

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        parts = tuple(str(data.get(f"{name}-{p}", "")).strip() for p, _, _ in self.PARTS)
        if any(parts):
            return parts
        return data.get(name)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and not any(f"{name}-{p}" in data for p, _, _ in self.PARTS)

    def id_for_label(self, id_: str) -> str:
        return f"{id_}-day" if id_ else ""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> Any:
        from django.utils.html import format_html, format_html_join

        attrs = {**self.attrs, **(attrs or {})}
        base_id = attrs.get("id", f"id_{name}")
        error = "--error" in str(attrs.get("class", ""))
        values: tuple[str, ...]
        if isinstance(value, date):
            values = (str(value.day), str(value.month), str(value.year))
        elif isinstance(value, tuple | list):
            values = tuple(str(v) for v in value)
        elif isinstance(value, str) and value:
            parsed = _parse_date_text(value)
            values = (
                (str(parsed.day), str(parsed.month), str(parsed.year)) if parsed else ("", "", "")
            )
        else:
            values = ("", "", "")
        described = attrs.get("aria-describedby", "")
        rows = []
        for (part, label, width), current in zip(self.PARTS, values, strict=True):
            classes = f"nhsuk-input nhsuk-date-input__input nhsuk-input--width-{width}"
            if error:
                classes += " nhsuk-input--error"
            rows.append(
                (
                    f"{base_id}-{part}",
                    label,
                    classes,
                    f"{name}-{part}",
                    current,
                    "bday-" + {"day": "day", "month": "month", "year": "year"}[part],
                    described,
                )
            )
        items = format_html_join(
            "",
            '<div class="nhsuk-date-input__item"><div class="nhsuk-form-group">'
            '<label class="nhsuk-label nhsuk-date-input__label" for="{}">{}</label>'
            '<input class="{}" name="{}" value="{}" type="text" inputmode="numeric" '
            'autocomplete="{}" id="{}"{}></div></div>',
            (
                (i, lab, c, n, v, ac, i, format_html(' aria-describedby="{}"', d) if d else "")
                for i, lab, c, n, v, ac, d in rows
            ),
        )
        return format_html('<div class="nhsuk-date-input" id="{}">{}</div>', base_id, items)


def _parse_date_text(value: str) -> date | None:
    from datetime import datetime

    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


class DateOfBirthField(forms.Field):
    widget = DateOfBirthWidget

    def to_python(self, value: Any) -> date | None:
        if value in (None, "", ()):
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            parsed = _parse_date_text(value)
            if parsed is None:
                raise ValidationError("Date of birth must be a real date, for example 17 5 1960.")
            return parsed
        day, month, year = (str(v) for v in value)
        missing = [n for n, v in zip(("a day", "a month", "a year"), value, strict=True) if not v]
        if missing:
            raise ValidationError(f"Date of birth must include {' and '.join(missing)}.")
        if not (day.isdigit() and month.isdigit() and year.isdigit()) or len(year) != 4:
            raise ValidationError("Date of birth must be a real date, with a 4-digit year.")
        try:
            born = date(int(year), int(month), int(day))
        except ValueError:
            raise ValidationError("Date of birth must be a real date.") from None
        if born > date.today():
            raise ValidationError("Date of birth must be in the past.")
        if born.year < 1880:
            raise ValidationError("Date of birth must be after 1880: check the year.")
        return born


class NhsForm(NhsFormMixin, forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_widgets()


def apply_service_errors(
    targets: list[tuple[str, forms.BaseForm]], field_errors: dict[str, list[str]]
) -> list[str]:
    """Attach a service's field errors to the matching form fields; return the unmatched ones.

    Service keys look like `nhs_number`, `history.onset` or `lesions[1].body_site_code`;
    `targets` pairs each form with the key prefix ('', 'history', 'lesions') it answers for.
    """
    unmatched: list[str] = []
    for key, messages in field_errors.items():
        prefix, _, name = key.rpartition(".")
        prefix = prefix.split("[")[0]
        form = next((f for p, f in targets if p == prefix and name in f.fields), None)
        if form is None:
            unmatched.extend(messages)
            continue
        for message in messages:
            form.add_error(name, message)
    for _, form in targets:
        if isinstance(form, NhsFormMixin):
            form.mark_errors()
    return unmatched
