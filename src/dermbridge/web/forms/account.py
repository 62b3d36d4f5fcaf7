"""Signing in: the second factor."""

from __future__ import annotations

from django import forms

from dermbridge.web.forms.base import NhsForm


class TwoFactorForm(NhsForm):
    token = forms.CharField(
        label="6-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
    )
