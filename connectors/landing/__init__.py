"""Publisher landing pages (the HTML a DOI resolves to): fetched politely by DOI or URL
(`client`), read into one `Record` per page or a counted `NoRecord` (`parse`)."""

from connectors.landing.parse import NoRecord, iter_landing_records, parse_landing_page

__all__ = ["NoRecord", "iter_landing_records", "parse_landing_page"]
