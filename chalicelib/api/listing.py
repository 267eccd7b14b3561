"""Page/limit/sort/order/search lists, as seeds 001 and 003 document them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.api.http import Call
from chalicelib.domain.errors import BadRequest

MAX_PAGE = 100_000


@dataclass(frozen=True)
class PageRequest:
    """What a caller asked of a list: which page, how big, in which order, matching what."""

    page: int
    limit: int
    sort: str
    order: str
    search: str | None

    @classmethod
    def from_call(cls, call: Call, *, sorts: Sequence[str], default_sort: str,
                  default_limit: int, max_limit: int, default_order: str = "asc",
                  search_param: str = "search") -> PageRequest:
        """Read and check ``page``, ``limit``, ``sort``, ``order`` and the search text."""
        sort = call.query("sort") or default_sort
        if sort not in sorts:
            raise BadRequest(f"'sort' must be one of {', '.join(sorts)}", code="bad_parameter")
        order = (call.query("order") or default_order).lower()
        if order not in ("asc", "desc"):
            raise BadRequest("'order' must be asc or desc", code="bad_parameter")
        search = call.query(search_param)
        return cls(page=call.int_query("page", 1, 1, MAX_PAGE),
                   limit=call.int_query("limit", default_limit, 1, max_limit),
                   sort=sort, order=order, search=search.lower()[:256] if search else None)

    def apply(self, items: list[Any], sort_key: Callable[[Any, str], Any]) -> dict[str, Any]:
        """Sort (stably, with None last) and cut one page; totals say what there is."""
        present = [i for i in items if sort_key(i, self.sort) is not None]
        absent = [i for i in items if sort_key(i, self.sort) is None]
        present.sort(key=lambda i: sort_key(i, self.sort), reverse=self.order == "desc")
        ordered = present + absent
        start = (self.page - 1) * self.limit
        total = len(ordered)
        return {"items": ordered[start:start + self.limit], "total": total, "page": self.page,
                "limit": self.limit, "total_pages": (total + self.limit - 1) // self.limit,
                "sort": self.sort, "order": self.order}
