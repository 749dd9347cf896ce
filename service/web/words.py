"""How the page says things: numbers, figures and bounds in words, actors, grades, dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from events import Edtf, Figure, parse_edtf

TO = "\N{EN DASH}"  # between the ends of a range
ACTORS = {
    "PRK": "North Korea",
    "RUS": "Russia",
    "IRN": "Iran",
    "UKR": "Ukraine",
    "USA": "United States",
    "KOR": "South Korea",
    "SVK": "Slovakia",
    "BLR": "Belarus",
    "CHN": "China",
}
LABELS = {"uav": "UAV", "munitions_unspecified": "munitions (unspecified)"}
UNITS = {"uav": ("UAV", "UAVs"), "railcar": ("railcar", "railcars")}
QUALIFIERS = {
    "exact": "",
    "about": "about ",
    "at_least": "at least ",
    "more_than": "more than ",
    "up_to": "up to ",
    "fewer_than": "fewer than ",
    "order_of_magnitude": "on the order of ",
}
RELIABILITY = {
    "A": "completely reliable source",
    "B": "usually reliable source",
    "C": "fairly reliable source",
    "D": "not usually reliable source",
    "E": "unreliable source",
    "F": "source reliability cannot be judged",
}
CREDIBILITY = {
    1: "confirmed by other sources",
    2: "probably true",
    3: "possibly true",
    4: "doubtful",
    5: "improbable",
    6: "truth cannot be judged",
}


def number(value: float) -> str:
    """`10000.0` as `10,000`; fractions keep up to two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def compact(value: float) -> str:
    """An axis label: `15,000`, `500k`, `1.5M`."""
    if value >= 1_000_000:
        return number(round(value / 1_000_000, 2)) + "M"
    if value >= 100_000:
        return number(round(value / 1_000, 1)) + "k"
    return number(value)


def unit_name(unit: str, count: float | None = None) -> str:
    """`container` for one, `containers` for any other count (or none given)."""
    one, many = UNITS.get(unit, (unit.replace("_", " "), unit.replace("_", " ") + "s"))
    return one if count == 1 else many


def counted(count: int, one: str, many: str | None = None, *, more: bool = False) -> str:
    """`1 development`, `2 developments`: a count and its noun; with `more`, a count of those
    shown where there are more (`200+ developments`)."""
    plus = "+" if more else ""
    return f"{number(count)}{plus} {one if count == 1 and not more else many or one + 's'}"


def quantity(value: float, unit: str) -> str:
    """`10,000 containers`."""
    return f"{number(value)} {unit_name(unit, value)}"


def bounds_text(low: float, high: float | None, unit: str) -> str:
    """Bounds in words: `at least 10,000 containers`, `up to 900 UAVs`, a range with an en dash."""
    if high is None:
        return f"at least {quantity(low, unit)}"
    if low == high:
        return quantity(low, unit)
    if low == 0:
        return f"up to {quantity(high, unit)}"
    return f"{number(low)}{TO}{number(high)} {unit_name(unit)}"


def figure_text(figure: Figure) -> str:
    """A figure in the words of its qualifier: `more than 10,000 containers`."""
    if figure.qualifier == "unspecified":
        return f"an unstated number of {unit_name(figure.unit)}"
    if figure.qualifier == "range":
        return f"{number(figure.low or 0)}{TO}{number(figure.high or 0)} {unit_name(figure.unit)}"
    value = float(figure.value or 0)
    return QUALIFIERS[figure.qualifier] + quantity(value, figure.unit)


def series_text(low: float, high: float | None, unit: str, last: Figure | None) -> str:
    """A series' bounds, in the words of its last figure when that figure alone sets them."""
    if last is not None:
        bounds = last.bounds()
        if bounds is None and low == 0 and not high:  # the view: low 0, no high
            return "no number stated" + (f" (“{last.text}”)" if last.text else "")
        if bounds is not None and (bounds.low, bounds.high) == (low, high):
            return figure_text(last)
    return bounds_text(low, high, unit)


def no_longer_counted(asserted: list[date]) -> str:
    """What a step adds when reports stop counting on its day: `; the report of 2024-06-01 no
    longer counts (retracted, or its development's status changed)`; nothing when none does."""
    if not asserted:
        return ""
    days = ", ".join(day.isoformat() for day in sorted(set(asserted)))
    reports = "report" if len(asserted) == 1 else "reports"
    counts = "counts" if len(asserted) == 1 else "count"
    return (
        f"; the {reports} of {days} no longer {counts} "
        "(retracted, or the development's status changed)"
    )


def not_counted(asserted: list[date], *, on_the_day: bool = True) -> str:
    """What a step says when its series stops being counted: `not counted from this date: the
    report of 2023-11-01 no longer counts (…)`; `by this date` when one stopped earlier, between
    this step and the one before, without changing the bounds."""
    when = "from" if on_the_day else "by"
    return f"not counted {when} this date" + no_longer_counted(asserted).replace(";", ":", 1)


def actor(identifier: str | None) -> str:
    """`PRK` as `North Korea`; unknown identifiers as they are."""
    if identifier is None:
        return "unknown"
    return ACTORS.get(identifier.upper(), identifier)


def label(identifier: str | None) -> str:
    """A snake_case code as words: `ballistic_missile` as `ballistic missile`, `uav` as `UAV`."""
    if identifier is None:
        return ""
    return LABELS.get(identifier, identifier.replace("_", " "))


# Kinds whose supplier and recipient are parties, not the ends of a movement: the Putin-Kim
# summit is coded PRK and RUS, and an arrow read "North Korea → Russia"
_PARTIES = frozenset({"meeting"})


def actors_text(actors: dict[str, Any], kind: str) -> str:
    """Who gave what to whom: `North Korea → Russia`, with user and targets when given; who
    met: `North Korea and Russia`."""
    parts = []
    supplier, recipient = actors.get("supplier"), actors.get("recipient")
    if kind in _PARTIES and (supplier or recipient):
        parts.append(" and ".join(actor(party) for party in (supplier, recipient) if party))
    elif supplier and recipient:
        parts.append(f"{actor(supplier)} → {actor(recipient)}")
    elif supplier or recipient:
        parts.append(f"from {actor(supplier)}" if supplier else f"to {actor(recipient)}")
    for role in ("user", "end_user", "authority"):
        if actors.get(role):
            parts.append(f"{label(role)}: {actor(actors[role])}")
    if actors.get("targets"):
        parts.append("targets: " + ", ".join(actor(t) for t in actors["targets"]))
    return "; ".join(parts)


def grade(reliability: str, credibility: int) -> str:
    """The Admiralty grade in words: `B2: usually reliable source, probably true`.

    An ungraded half is a clause of its own (`cannot be judged`), so a semicolon parts the two.
    """
    unjudged = reliability == "F" or credibility == 6
    return (
        f"{reliability}{credibility}: {RELIABILITY.get(reliability, 'source')}"
        f"{'; ' if unjudged else ', '}{CREDIBILITY.get(credibility, '')}"
    )


def occurred_text(edtf: Edtf) -> str:
    """The precision of `occurred` in words: `day precision, approximate, open end`."""
    words = [f"{edtf.precision} precision"]
    if "/" in edtf.text:
        start, stop = edtf.text.split("/")
        given = [parse_edtf(end).precision for end in (start, stop) if end not in ("", "..")]
        if len(set(given)) > 1:  # the API gives the finer one: say both
            words[0] = f"{given[0]} to {given[1]} precision"
        words.append("interval")
        if start in ("", ".."):
            words.append("start " + ("open" if start == ".." else "unknown"))
        if stop in ("", ".."):
            words.append("end " + ("open" if stop == ".." else "unknown"))
    if edtf.approximate:
        words.append("approximate")
    if edtf.uncertain:
        words.append("uncertain")
    return ", ".join(words)


def months_between(first: date, last: date) -> int:
    """Whole calendar months from `first` to `last`; a month ending on a shorter month's last day
    counts (31 January to 29 February is one month)."""
    months = (last.year - first.year) * 12 + last.month - first.month
    if last.day < first.day and (last + timedelta(days=1)).month == last.month:
        months -= 1
    return months


def age(first: date, last: date) -> str:
    """The age of a claim first said on `first`, on `last`: `599 days (1 y 7 m)`."""
    days = (last - first).days
    if days < 31:
        return f"{days} day" + ("" if days == 1 else "s")
    years, months = divmod(months_between(first, last), 12)
    span = f"{years} y {months} m" if years else f"{months} m"
    return f"{days:,} days ({span})"


def long_date(day: date) -> str:
    """`1 March 2024`."""
    return f"{day.day} {day:%B %Y}"


def capital(text: str) -> str:
    """`text` with its first letter in capitals, the rest untouched: `UAVs`, `Containers`."""
    return text[:1].upper() + text[1:]


def moment(value: datetime) -> str:
    """A moment as the API writes it: RFC 3339, UTC, microseconds, `Z`."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
