"""Template filters of the sessions pages: ``{% load express_sessions %}``."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.template.defaultfilters import date as date_format
from django.utils import timezone
from django.utils.timesince import timesince

from ..tracking import USER_AGENT_LIMIT

register = template.Library()

# The first name whose tokens match names the browser: the order matters, since Edge and
# Opera also say "Chrome", Chrome also says "Safari", and Safari's version is "Version/".
# Two tokens are searched one after the other rather than joined by ".*", which
# backtracks quadratically over a long user agent holding many of the first token.
Tokens = tuple[re.Pattern[str], ...]


def _table(entries: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, Tokens]]:
    return [(name, tuple(map(re.compile, tokens))) for name, tokens in entries]


_BROWSERS = _table(
    [
        ("Edge", (r"\bEdg(?:e|A|iOS)?/",)),
        ("Opera", (r"\b(?:OPR|Opera)/",)),
        ("Firefox", (r"\b(?:Firefox|FxiOS)/",)),
        ("Chrome", (r"\b(?:HeadlessChrome|Chrome|CriOS)/",)),
        ("Safari", (r"\bVersion/[\d.]", r"\bSafari/")),
    ]
)
_SYSTEMS = _table(
    [
        ("iPhone", (r"\biPhone\b",)),
        ("iPad", (r"\biPad\b",)),
        ("Android", (r"\bAndroid\b",)),
        ("ChromeOS", (r"\bCrOS\b",)),
        ("Windows", (r"\bWindows\b",)),
        ("macOS", (r"\bMac OS X\b|\bMacintosh\b",)),
        ("Linux", (r"\bLinux\b",)),
    ]
)


def _in_order(tokens: Tokens, text: str) -> bool:
    """Each token found after the one before it."""
    position = 0
    for token in tokens:
        found = token.search(text, position)
        if found is None:
            return False
        position = found.end()
    return True


def _first(table: list[tuple[str, Tokens]], user_agent: str) -> str | None:
    return next((name for name, tokens in table if _in_order(tokens, user_agent)), None)


@register.filter
def device_name(user_agent: str | None) -> str:
    """ "Firefox on Windows", "Safari on iPhone", ... from a ``User-Agent``; "" when
    neither the browser nor the system is known (show the raw string then)."""
    if not user_agent:
        return ""
    user_agent = user_agent[:USER_AGENT_LIMIT]  # as ``track`` stores it; Node may not cut
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


@register.filter(expects_localtime=True)
def moment(value: datetime | None) -> str:
    """A moment as the admin shows dates (``SHORT_DATETIME_FORMAT``, in the current
    time zone), with the zone's name: the same on the user page and in the admin."""
    if value is None:
        return ""
    return f"{date_format(value, 'SHORT_DATETIME_FORMAT')} {date_format(value, 'T')}"
