"""Mechanisms of batch calls that more than one vendor contract needs, written once.

- :func:`send_unique`: one request per group of distinct keys (phone numbers), with the items
  that share a key sharing its answer, and a group the vendor refuses as a whole resent key by
  key so that one bad key sinks only its own items;
- :func:`entries_for`: a multi-status answer's entries matched back to the items sent;
- :func:`walk_cursor` and :func:`walk_pages`: every item of a cursor-paged collection, every page
  of a page-numbered (or linked) one;
- :func:`poll`: an asynchronous bulk job polled until it ends.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Hashable, Iterator

from .base import Item, ItemResult


def send_unique(ready: list[tuple[Item, Hashable]],
                send_group: Callable[[list], "dict[Any, ItemResult] | ItemResult"]) -> Iterator[ItemResult]:
    """Send each distinct key of ``ready`` once; every item gets its key's answer.
    ``send_group(keys)`` returns {key: result}, or one result when the vendor refused the whole
    group, which is then resent key by key."""
    items_of: dict[Hashable, list[Item]] = {}
    for item, key in ready:
        items_of.setdefault(key, []).append(item)

    def answers(keys: list) -> Iterator[tuple[Hashable, ItemResult]]:
        outcome = send_group(keys)
        if isinstance(outcome, dict):
            yield from outcome.items()
        elif len(keys) == 1:
            yield keys[0], outcome
        else:
            for key in keys:
                yield from answers([key])

    for key, result in answers(list(items_of)):
        for item in items_of[key]:
            yield dataclasses.replace(result, item_id=item.id)


def entries_for(keys: list[str], answer: list, key_of: Callable[[dict], Any]) -> list[Any]:
    """The entries of a per-item ``answer`` for the items sent with ``keys``: in request order
    when the answer is as long as the request, else matched by ``key_of(entry)`` (None for an
    item that no entry names)."""
    if len(answer) == len(keys):
        return list(answer)
    by_key: dict[str, list] = {}
    for entry in answer:
        if isinstance(entry, dict):
            by_key.setdefault(str(key_of(entry)), []).append(entry)
    return [by_key[k].pop(0) if by_key.get(k) else None for k in keys]
