"""DORA performance bands per metric, from the thresholds of one DORA report.

Source: DORA, *Accelerate State of DevOps Report 2024* (dora.dev/research/2024/dora-report),
section "Software delivery performance", the table of the four performance clusters:

========  ============================  ===========================  ====  ==========================
cluster   deployment frequency          change lead time             CFR   failed deployment recovery
========  ============================  ===========================  ====  ==========================
elite     on demand (several a day)     less than one day            5%    less than one hour
high      once a day to once a week     one day to one week          20%   less than one day
medium    once a week to once a month   one week to one month        10%   less than one day
low       once a month to every 6 mo.   one month to six months      40%   one week to one month
========  ============================  ===========================  ====  ==========================

The clusters describe teams, not single metrics, so two rules turn them into a band per metric:
a figure gets the best band whose range it meets, and a figure between two ranges gets the lower
one. Two consequences are written down rather than hidden: the 2024 clusters are not ordered in
change failure rate (medium's 10% is below high's 20%), so that metric has the bands elite
(at most 5%), high (at most 20%) and low; and high and medium share "less than one day" of
recovery, so recovery has elite (under an hour), high (under a day) and low.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

REPORT: Final = "DORA Accelerate State of DevOps Report 2024"

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR


class Band(StrEnum):
    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def frequency(per_day: float) -> Band:
    """Deployments per day: elite at one or more a day ("on demand"), high at one a week or
    more, medium at one a month (30 days) or more, else low."""
    if per_day >= 1:
        return Band.ELITE
    if per_day >= 1 / 7:
        return Band.HIGH
    if per_day >= 1 / 30:
        return Band.MEDIUM
    return Band.LOW


def lead_time(seconds: float | None) -> Band | None:
    """Median lead time for changes: under a day, a week, a month (30 days)."""
    if seconds is None:
        return None
    if seconds < DAY:
        return Band.ELITE
    if seconds <= 7 * DAY:
        return Band.HIGH
    if seconds <= 30 * DAY:
        return Band.MEDIUM
    return Band.LOW


def change_failure(rate: float | None) -> Band | None:
    """Change failure rate: at most 5%, at most 20%, else low (see the module docstring)."""
    if rate is None:
        return None
    if rate <= 0.05:
        return Band.ELITE
    if rate <= 0.20:
        return Band.HIGH
    return Band.LOW


def recovery(seconds: float | None) -> Band | None:
    """Mean time to restore: under an hour, under a day, else low (see the module docstring)."""
    if seconds is None:
        return None
    if seconds < HOUR:
        return Band.ELITE
    if seconds < DAY:
        return Band.HIGH
    return Band.LOW
