"""Mechanisms of batch calls that more than one vendor contract needs, written once.

- :func:`send_unique`: one request per group of distinct keys (phone numbers), with the items
  that share a key sharing its answer, and a group the vendor refuses as a whole resent key by
  key so that one bad key sinks only its own items;
- :func:`entries_for`: a multi-status answer's entries matched back to the items sent;
- :func:`request_key`, :func:`by_request` and :func:`answers_to_request`: a request named by a
  key fixed per item at first send (``VendorClient.fix_call_ref``), resent as it was, and the
  vendor's answer to a repeated key matched back to the items;
- :func:`walk_cursor` and :func:`walk_pages`: every item of a cursor-paged collection, every page
  of a page-numbered (or linked) one;
- :func:`poll`: an asynchronous bulk job polled until it ends.
"""
from __future__ import annotations

import dataclasses
import hashlib
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


def request_key(items: list[Item]) -> str:
    """A key naming the request of ``items``: stable for the same items, whatever their order."""
    keys = sorted(item.idempotency_key or f"delivery-{item.id}" for item in items)
    return "lh-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40]


def by_request(ready: list[tuple[Item, Any]]) -> dict[str, list[tuple[Item, Any]]]:
    """(item, payload) pairs per earlier request (``call_ref``); "" holds the items never sent.
    Each earlier request is resent with its own items only, whatever else is due with them."""
    requests: dict[str, list[tuple[Item, Any]]] = {}
    for item, payload in ready:
        requests.setdefault(item.call_ref, []).append((item, payload))
    return requests


def answers_to_request(items: list[Item], answer: list) -> list | None:
    """The per-item entries of ``answer`` to a request carrying ``items`` under a fixed key: the
    answer in our order when it is as long as what we sent; the first request's answer, indexed by
    each item's ``call_index``, when it is as long as that request; None when neither (an earlier
    try of the key carrying these items succeeded: they are at the vendor, unmatched)."""
    if len(answer) == len(items):
        return list(answer)
    size = items[0].call_size
    if len(answer) == size and all(i.call_size == size and i.call_index is not None and i.call_index < size
                                   for i in items):
        return [answer[i.call_index] for i in items]
    return None
