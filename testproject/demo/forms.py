"""The demo's two forms: a new ``cookie.max_age``, and a login."""

from django import forms

#: Node's Date ends at 8.64e15 ms after the epoch; a year keeps the demo readable.
ONE_YEAR_MS = 365 * 24 * 3600 * 1000


class MaxAgeForm(forms.Form):
    max_age_ms = forms.IntegerField(
        label="cookie.max_age (ms)",
        min_value=1,
        max_value=ONE_YEAR_MS,
        error_messages={
            "required": "Give the new max_age in milliseconds (for example 120000).",
            "invalid": "max_age is a whole number of milliseconds (for example 120000).",
            "min_value": "max_age must be at least 1 ms: 0 or less would end the session now.",
            "max_value": "max_age can be at most a year (%(limit_value)s ms) in this demo.",
        },
    )


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput)
