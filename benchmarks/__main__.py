"""`python -m benchmarks [NAME] [options]`: pick a registered benchmark (default: parse) and
hand it the remaining arguments. `python -m benchmarks list` shows what is registered."""

from __future__ import annotations

import sys

from benchmarks import BENCHMARKS, DEFAULT


def _usage() -> str:
    lines = [
        "usage: python -m benchmarks [NAME] [options]   (NAME defaults to "
        f"{DEFAULT!r}; `python -m benchmarks NAME -h` for its options)",
        "",
        "benchmarks:",
    ]
    width = max(len(name) for name in BENCHMARKS)
    lines += [f"  {b.name:<{width}}  {b.summary}" for b in BENCHMARKS.values()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("list", "-h", "--help"):
        print(_usage())
        return 0
    name = DEFAULT
    # A leading word that is not an option names the benchmark; options alone mean the default.
    if args and not args[0].startswith("-"):
        name = args.pop(0)
    benchmark = BENCHMARKS.get(name)
    if benchmark is None:
        print(f"unknown benchmark {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return benchmark.main(args)


if __name__ == "__main__":
    sys.exit(main())
