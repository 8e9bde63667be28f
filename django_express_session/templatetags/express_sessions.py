"""Template filters of the sessions pages: ``{% load express_sessions %}``."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

# The first token that matches names the browser: the order matters, since Edge and
# Opera also say "Chrome", Chrome also says "Safari", and Safari's version is "Version/".
_BROWSERS = [
    ("Edge", r"\bEdg(?:e|A|iOS)?/"),
    ("Opera", r"\b(?:OPR|Opera)/"),
    ("Firefox", r"\b(?:Firefox|FxiOS)/"),
    ("Chrome", r"\b(?:HeadlessChrome|Chrome|CriOS)/"),
    ("Safari", r"\bVersion/[\d.]+.*\bSafari/"),
]
_SYSTEMS = [
    ("iPhone", r"\biPhone\b"),
    ("iPad", r"\biPad\b"),
    ("Android", r"\bAndroid\b"),
    ("ChromeOS", r"\bCrOS\b"),
    ("Windows", r"\bWindows\b"),
    ("macOS", r"\bMac OS X\b|\bMacintosh\b"),
    ("Linux", r"\bLinux\b"),
]


def _first(patterns: list[tuple[str, str]], user_agent: str) -> str | None:
    return next((name for name, pattern in patterns if re.search(pattern, user_agent)), None)


@register.filter
def device_name(user_agent: str | None) -> str:
    """ "Firefox on Windows", "Safari on iPhone", ... from a ``User-Agent``; "" when
    neither the browser nor the system is known (show the raw string then)."""
    if not user_agent:
        return ""
    browser, system = _first(_BROWSERS, user_agent), _first(_SYSTEMS, user_agent)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or ""


@register.filter
def seen_ago(moment: datetime | None) -> str:
    """ "just now" within a minute, else "5 minutes ago" (Django's ``timesince``)."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"
