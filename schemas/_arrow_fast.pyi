"""Type stub of the compiled Arrow builder (schemas/_arrow_fast.pyx)."""

from typing import Any

import pyarrow as pa

class Unsupported(Exception): ...

def check_plan(plan: tuple[Any, ...]) -> None: ...
def columns(plan: tuple[Any, ...], rows: list[Any]) -> list[pa.Array]: ...
