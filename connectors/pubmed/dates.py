"""PubMed dates: the publication date as given (Year/Month/Day, Season or MedlineDate) and
normalised to the start of the stated period with its precision; the other dated events.

Normalisation rules (tested in tests/test_pubmed_parse_dates.py):

- `Year` + `Month` + `Day` → that day, precision "day"; `Year` + `Month` → the 1st, "month";
  `Year` alone → 1 January, "year". Months come as names ("Jan", "June") or numbers ("01").
  A day that does not exist in that month (31 Apr) falls back to the month.
- `Season` → the first day of the northern meteorological season *inside the stated year*,
  precision "season": Spring → 1 Mar, Summer → 1 Jun, Fall/Autumn → 1 Sep, Winter → 1 Dec.
  Winter maps to December of the stated year (not to the January–February before it) so that
  the normalised date always lies in the stated `Year` and `pub_year` agrees with it.
  A Season that names a range ("Jan-Mar", "Spring-Summer": both occur) starts at its first
  part with precision "range"; an unknown Season word leaves the year, precision "year".
- Quarters ("3rd Quarter", "1st Quart") → the first month of the quarter, precision "season"
  (a three-month period, like a season).
- `MedlineDate` is free text for periods that do not fit the structure ("1998 Dec-1999 Jan",
  "2000 Jan-Feb", "1999 Apr 15-30", "1987-1988", "1998-1999 Fall-Winter"). It normalises to
  the start of the first period named, with precision "range" when the text states a range
  (contains "-"); otherwise with the precision of the single period named.
- `pub_year` is the `Year`, or the first year of a MedlineDate.
- Anything that cannot be read leaves the date `None` (the verbatim text is always kept); a
  date without a four-digit year is not read at all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from lxml import etree

from schemas.record import DateEntry

MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

SEASON_START_MONTH: dict[str, int] = {
    "spring": 3,
    "summer": 6,
    "fall": 9,
    "autumn": 9,
    "winter": 12,
}

_QUARTER = re.compile(r"([1-4])(?:st|nd|rd|th)\s+quart(?:er)?\b", re.IGNORECASE)
_LEADING_YEAR = re.compile(r"\s*(\d{4})\b")
_YEAR_RANGE = re.compile(r"\s*-\s*\d{4}\b")
_WORD = re.compile(r"\s*([A-Za-z]+)")
_DAY = re.compile(r"\s*(\d{1,2})\b")


# Every spelling of a month seen in PubMed, looked up before any string work (hot path).
_MONTH_LOOKUP: dict[str, int] = {
    **{str(number): number for number in range(1, 13)},
    **{f"{number:02d}": number for number in range(1, 13)},
    **{name: number for name, number in MONTHS.items()},
    **{name.capitalize(): number for name, number in MONTHS.items()},
}


def month_number(text: str | None) -> int | None:
    """1–12 from a month name or abbreviation ("Jan", "June") or a number ("01", "1")."""
    if text is None:
        return None
    number = _MONTH_LOOKUP.get(text)
    if number is None:
        number = _MONTH_LOOKUP.get(text.strip().lower().lstrip("0") or "0")
    return number


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    # OverflowError: a 30-digit Day is beyond a C int, not just beyond the month.
    try:
        return dt.date(year, month, day)
    except (ValueError, OverflowError):
        return None


def _year(text: str | None) -> int | None:
    # ASCII digits only: `isdigit()` is also true of "²", which `int()` refuses; year 0000
    # is no date.
    if text is not None and len(text) == 4 and text.isascii() and text.isdigit():
        return int(text) or None
    return None


def date_from_parts(
    year_text: str | None,
    month_text: str | None = None,
    day_text: str | None = None,
    season_text: str | None = None,
) -> tuple[dt.date | None, str | None]:
    """(start date, precision) of a structured PubMed date; (None, None) without a usable year."""
    year = _year(year_text)
    if year is None:
        return None, None
    if season_text is not None:
        start, precision = _period_start(season_text)
        if start is not None:
            return dt.date(year, start[0], 1), "range" if "-" in season_text else precision
        return dt.date(year, 1, 1), "year"
    month = month_number(month_text)
    if month is None:
        return dt.date(year, 1, 1), "year"
    day_digits = None if day_text is None else day_text.strip()
    if day_digits and day_digits.isascii() and day_digits.isdigit() and len(day_digits) <= 2:
        day = _safe_date(year, month, int(day_digits))
        if day is not None:
            return day, "day"
    return dt.date(year, month, 1), "month"


def _period_start(text: str) -> tuple[tuple[int, int] | None, str | None]:
    """((month, day), precision) of the first period named in `text` (after any year)."""
    quarter = _QUARTER.match(text.strip())
    if quarter is not None:
        return ((int(quarter.group(1)) - 1) * 3 + 1, 1), "season"
    word = _WORD.match(text)
    if word is None:
        return None, None
    name = word.group(1).lower()
    if name in SEASON_START_MONTH:
        return (SEASON_START_MONTH[name], 1), "season"
    month = MONTHS.get(name)
    if month is None:
        return None, None
    day = _DAY.match(text, word.end())
    if day is not None and 1 <= int(day.group(1)) <= 31:
        return (month, int(day.group(1))), "day"
    return (month, 1), "month"


def medline_date(text: str) -> tuple[dt.date | None, str | None, int | None]:
    """(start date, precision, year) of a MedlineDate such as "1998 Dec-1999 Jan"."""
    leading = _LEADING_YEAR.match(text)
    if leading is None:
        return None, None, None
    year = int(leading.group(1))
    if year == 0:
        return None, None, None
    rest_at = leading.end()
    year_range = _YEAR_RANGE.match(text, rest_at)
    if year_range is not None:
        rest_at = year_range.end()
    start, precision = _period_start(text[rest_at:])
    date: dt.date | None
    if start is None:
        date, precision = dt.date(year, 1, 1), "year"
    else:
        month, day = start
        date = _safe_date(year, month, day)
        if date is None:
            date, precision = dt.date(year, month, 1), "month"
    if "-" in text:
        precision = "range"
    return date, precision, year


def parse_pub_date(
    pub_date: etree._Element | None,
) -> tuple[dt.date | None, str | None, str | None, int | None]:
    """(pub_date, precision, verbatim text, year) of a `PubDate` element.

    The verbatim text joins the children's texts in document order ("2012 Nov 22",
    "1990 Spring") or is the `MedlineDate` text as given."""
    if pub_date is None:
        return None, None, None, None
    # PubDates repeat heavily within a file (one journal issue, many articles): read the
    # (tag, text) pairs, then look the whole reading up in a cache.
    parts = []
    for child in pub_date:
        text = child.text
        if text is None or not (text := text.strip()):
            continue
        parts.append((child.tag, text))
    return pub_date_from_parts(tuple(parts))


def pub_date_from_parts(
    key: tuple[tuple[object, str], ...],
) -> tuple[dt.date | None, str | None, str | None, int | None]:
    """`parse_pub_date` without the element: `key` is the PubDate's (tag, stripped non-blank
    `.text`) pairs in document order. Cached (the compiled parser calls this too)."""
    result = _PUB_DATE_CACHE.get(key)
    if result is None:
        result = _pub_date_from_parts(key)
        if len(_PUB_DATE_CACHE) >= _CACHE_SIZE:
            _PUB_DATE_CACHE.clear()
        _PUB_DATE_CACHE[key] = result
    return result


_CACHE_SIZE = 4096
_PUB_DATE_CACHE: dict[
    tuple[tuple[object, str], ...], tuple[dt.date | None, str | None, str | None, int | None]
] = {}


def _date_parts(
    parts: Iterable[tuple[object, str]],
) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(Year, Month, Day, Season, MedlineDate) texts of a date element's (tag, text) pairs."""
    year = month = day = season = medline = None
    for tag, text in parts:
        if tag == "Year":
            year = text
        elif tag == "Month":
            month = text
        elif tag == "Day":
            day = text
        elif tag == "Season":
            season = text
        elif tag == "MedlineDate":
            medline = text
    return year, month, day, season, medline


def _pub_date_from_parts(
    parts: tuple[tuple[object, str], ...],
) -> tuple[dt.date | None, str | None, str | None, int | None]:
    if not parts:
        return None, None, None, None
    year, month, day, season, medline = _date_parts(parts)
    if medline is not None:
        date, precision, medline_year = medline_date(medline)
        return date, precision, medline, medline_year
    date, precision = date_from_parts(year, month, day, season)
    return date, precision, " ".join(text for _tag, text in parts), _year(year)


def parse_date_entry(kind: str, element: etree._Element) -> DateEntry:
    """A `DateEntry` from a Year/Month/Day(/Hour/Minute) element (ArticleDate, PubMedPubDate,
    DateCompleted, DateRevised, …). `raw` joins the children's texts as given."""
    parts = []
    for child in element:
        text = child.text
        if text is None or not (text := text.strip()):
            continue
        parts.append((child.tag, text))
    year, month, day, season, _medline = _date_parts(parts)
    raw = " ".join(text for _tag, text in parts) or None
    return date_entry_from_parts(kind, year, month, day, season, raw)


def date_entry_from_parts(
    kind: str,
    year: str | None,
    month: str | None,
    day: str | None,
    season: str | None,
    raw: str | None,
) -> DateEntry:
    """`parse_date_entry` without the element: the stripped non-blank `.text` of its Year,
    Month, Day and Season children, and `raw` (all the children's texts joined, or None)."""
    # Fast path for the all-numeric Year/Month/Day that nearly every date element has: the
    # same few hundred days recur all through a file, so their dates are cached.
    if day is not None and month is not None and year is not None:
        key = (year, month, day)
        date = _DAY_CACHE.get(key)
        if date is not None:
            return DateEntry(kind, date, "day", raw)
        if len(year) == 4:
            try:
                date = dt.date(int(year), int(month), int(day))
            except (ValueError, OverflowError):  # "²", or a 30-digit Day
                pass
            else:
                if len(_DAY_CACHE) >= _CACHE_SIZE:
                    _DAY_CACHE.clear()
                _DAY_CACHE[key] = date
                return DateEntry(kind, date, "day", raw)
    date, precision = date_from_parts(year, month, day, season)
    return DateEntry(kind, date, precision, raw)


_DAY_CACHE: dict[tuple[str, str, str], dt.date] = {}
