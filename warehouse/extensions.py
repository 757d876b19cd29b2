"""The one door for DuckDB extensions: each is loaded from the file its pinned PyPI package
installed (`duckdb-extension-<name>==<duckdb version>`), never downloaded (autoinstall and
autoload off), so the warehouse works offline and runs exactly the extension code we pinned.

DuckDB checks that a file's name matches the extension inside it (its entry point is
`<name>_duckdb_cpp_init`): two packages ship their extension under another name than its own
(`sqlite.duckdb_extension` holds `sqlite_scanner`, `postgres.duckdb_extension` holds
`postgres_scanner`). Those are loaded through a link of the right name in a per-user cache
directory, made once.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import duckdb

from schemas.errors import FatalError

# package suffix → the extension's own name, where they differ
_REAL_NAMES = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}


def extension_file(package: str) -> Path:
    """The extension file the pinned `duckdb-extension-<package>` package installed."""
    module = f"duckdb_extension_{package}"
    version = duckdb.__version__
    try:
        installed = importlib.import_module(module)
    except ImportError:
        raise FatalError(
            f"the DuckDB {package} extension is not installed: install the pinned "
            f"`duckdb-extension-{package}=={version}` package (make install)"
        ) from None
    path = (
        Path(installed.__file__ or "").parent
        / "extensions"
        / f"v{version}"
        / f"{package}.duckdb_extension"
    )
    if not path.is_file():
        raise FatalError(
            f"no {package} extension for DuckDB {version} at {path}: install "
            f"`duckdb-extension-{package}=={version}`, the version of the installed duckdb"
        )
    return path


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "biblioduck" / "duckdb-extensions" / f"v{duckdb.__version__}"


def loadable_file(package: str) -> Path:
    """A path DuckDB will load `package`'s extension from: its own file, or a link to it
    named after the extension inside."""
    path = extension_file(package)
    real = _REAL_NAMES.get(package)
    if real is None:
        return path
    link = _cache_dir() / f"{real}.duckdb_extension"
    if not (link.is_symlink() and link.resolve() == path.resolve()):
        link.parent.mkdir(parents=True, exist_ok=True)
        staged = link.with_name(f"{link.name}.{os.getpid()}")
        staged.unlink(missing_ok=True)
        staged.symlink_to(path)
        staged.replace(link)  # atomic: a concurrent process sees the old link or the new one
    return link


def load_extensions(con: duckdb.DuckDBPyConnection, *packages: str) -> None:
    """Load each extension from its pinned package; nothing is downloaded."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    for package in packages:
        quoted = str(loadable_file(package)).replace("'", "''")
        con.execute(f"LOAD '{quoted}'")
