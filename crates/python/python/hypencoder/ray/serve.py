"""Index shards served on Ray Serve, over the HTTP API of ``hypencoder serve``.

Three kinds of deployment (docs/scale-out.md):

- ``ShardReader``, one per shard with ``num_replicas`` copies: an open
  :class:`hypencoder.Index` on the shard's folder answering the two rounds
  of a search over shards (:class:`hypencoder.ray.ShardedIndex` explains
  them) and document lookups. A replica reopens its index when a request
  names a later commit than the one it has open, so what a write
  acknowledged is what every later search sees.
- ``ShardWriter``, one replica per shard: the shard's one writer (it
  holds the index's write lock). A ``PUT`` or ``DELETE`` is answered once
  the commit is durable; merges run after it, off the request's path.
- ``Coordinator``, the HTTP ingress: parses and checks requests as
  ``hypencoder serve`` does, runs both rounds on every shard's readers,
  ranks once (:func:`hypencoder._native.combine_shards`) and answers with
  the same JSON (hits, batches, errors with their codes and fields).

A document's shard is the one that holds it; a new id goes to the shard a
stable hash of the id picks (blake2b), so a replaced document never lives
in two shards.

Start it with ``python -m hypencoder.ray.serve --shard NAME=DIR ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, unquote

from ray import serve

import hypencoder
from hypencoder import _native

__all__ = ["ShardReader", "ShardWriter", "Coordinator", "app", "shard_of", "Limits"]


def shard_of(doc_id: str, shards: int) -> int:
    """The shard a new document goes to: a stable hash of its id (the same
    in every process and Python version, unlike ``hash``)."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


class Limits:
    """What one request may ask, as ``hypencoder serve``'s flags of the
    same names (and defaults)."""

    def __init__(
        self,
        max_k: int = 1000,
        max_query_chars: int = 4096,
        max_queries: int = 1024,
        max_body_bytes: int = 1 << 20,
        shard_timeout_seconds: float = 30.0,
    ):
        self.max_k = max_k
        self.max_query_chars = max_query_chars
        self.max_queries = max_queries
        self.max_body_bytes = max_body_bytes
        # How long a shard may take to answer, retries included (Serve
        # holds a call while the shard has no replica up) before the
        # request is answered 503 naming it.
        self.shard_timeout_seconds = shard_timeout_seconds


class ShardReader:
    """Reads one shard: both rounds of a search, and documents by id."""

    def __init__(self, name: str, path: str):
        self.name = name
        self.index = hypencoder.Index(path)

    def _at(self, generation: Optional[int]) -> None:
        if generation is not None and generation > self.index.generation:
            self.index.refresh(generation)

    def stats(self, queries: List[str], generation: Optional[int] = None) -> str:
        self._at(generation)
        return self.index.shard_stats(queries)

    async def search_shard(
        self,
        queries: List[str],
        stats: List[str],
        k: int,
        filter: Optional[str],
        options: Dict[str, Any],
        generation: Optional[int] = None,
    ) -> str:
        self._at(generation)
        settings = json.dumps([k, filter, options], sort_keys=True)
        return await self._batched((settings, queries, stats, k, filter, options))

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)
    async def _batched(self, calls: List[tuple]) -> List[str]:
        """Calls that arrive together, searched as one batch per setting:
        the engine encodes and scores a batch for less per query than one
        query at a time (``hypencoder serve``'s queue batches alike)."""
        out: List[Optional[str]] = [None] * len(calls)
        groups: Dict[str, List[int]] = {}
        for i, call in enumerate(calls):
            groups.setdefault(call[0], []).append(i)
        for members in groups.values():
            _, _, first_stats, k, filter, options = calls[members[0]]
            queries = [q for i in members for q in calls[i][1]]
            # Each shard's first-round answer, its queries' statistics joined.
            stats = []
            for shard in range(len(first_stats)):
                parts = [json.loads(calls[i][2][shard]) for i in members]
                stats.append(json.dumps({"rows": parts[0]["rows"], "bm25": [b for p in parts for b in p["bm25"]]}))
            answer = json.loads(
                await asyncio.to_thread(lambda: self.index.search_shard(queries, stats, k, filter, **options))
            )
            start = 0
            for i in members:
                n = len(calls[i][1])
                hits = {**answer["hits"], "queries": answer["hits"]["queries"][start : start + n]}
                out[i] = json.dumps({**answer, "hits": hits})
                start += n
        return out

    def documents(self, ids: List[str], generation: Optional[int] = None) -> Dict[str, Any]:
        """Each id the shard holds: its text and fields."""
        self._at(generation)
        out = {}
        for doc_id in ids:
            try:
                text = self.index.document(doc_id)
            except KeyError:
                continue
            out[doc_id] = {"text": text, "fields": json.loads(self.index.document_fields(doc_id))}
        return out

    def info(self, generation: Optional[int] = None) -> Dict[str, Any]:
        self._at(generation)
        return self.index.info()


class ShardWriter:
    """The one writer of one shard, opened at the first write (as
    ``hypencoder serve`` opens its writer): opening takes the write lock and
    makes a single-folder index a live one, which a shard only read need
    not undergo."""

    def __init__(self, name: str, path: str):
        self.name = name
        self.path = path
        self.writer: Optional[Any] = None
        self.opening = threading.Lock()
        self.merging = threading.Lock()

    def _open(self):
        with self.opening:
            if self.writer is None:
                self.writer = _native.LiveWriter(self.path, None, hypencoder._minilm_folder())
            return self.writer

    def _merge_later(self) -> None:
        # Off the request's path: the write is acknowledged already.
        def merge():
            with self.merging:
                self._open().merge()

        threading.Thread(target=merge, daemon=True).start()

    def put(self, ids: List[str], texts: List[str], fields: Optional[List[str]]) -> Tuple:
        report = self._open().put(ids, texts, fields)
        self._merge_later()
        return report

    def delete(self, ids: List[str]) -> Tuple:
        report = self._open().delete(ids)
        self._merge_later()
        return report

    def generation(self) -> int:
        """The shard's last commit."""
        if self.writer is not None:
            return self.writer.generation
        return hypencoder.Index(self.path).generation


class ApiError(Exception):
    """An answer other than 200, in the server's error shape."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> Dict[str, Any]:
        detail = {"code": self.code, "message": self.message}
        if self.field is not None:
            detail["field"] = self.field
        return {"error": detail}


class _ShardDown(ApiError):
    """A shard with no replica answering."""

    def __init__(self, shard: str, cause: BaseException):
        super().__init__(
            503, "shard_unavailable",
            f"shard '{shard}' did not answer ({type(cause).__name__}); retry shortly, "
            "or set allow_partial for the other shards' results",
        )


async def _awaited(response):
    return await response


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", message, field)


# The request's own fields; the rest are search settings.
_ENVELOPE = ("query", "q", "queries", "filter", "include_text", "include_fields", "allow_partial")


def _from_engine(error: hypencoder.HypencoderError) -> ApiError:
    """An engine error raised by a shard as the server answers it."""
    error = getattr(error, "cause", None) or error  # Ray wraps a replica's error
    field = getattr(error, "field", None)
    if isinstance(error, hypencoder.UnsupportedError):
        return ApiError(400, "unsupported_mode", str(error), field or "mode")
    if isinstance(error, hypencoder.InvalidInputError):
        return ApiError(400, "invalid_field", str(error), field)
    if isinstance(error, hypencoder.LockedError):
        return ApiError(409, "locked", str(error))
    return ApiError(500, "internal", str(error))


class _Request:
    """A search request checked as ``hypencoder serve`` checks one."""

    def __init__(self, fields: Dict[str, Any], limits: Limits):
        own = {k: v for k, v in fields.items() if k in _ENVELOPE}
        self.settings = {k: v for k, v in fields.items() if k not in _ENVELOPE}
        for key in self.settings:
            if key not in hypencoder.SEARCH_SETTINGS:
                raise _invalid(key, f"unknown field `{key}`")
        query = own.get("query", own.get("q"))
        queries = own.get("queries")
        self.filter = own.get("filter")
        self.include_text = bool(own.get("include_text", False))
        self.include_fields = own.get("include_fields")
        # Answer from the shards that do when one has no replica left.
        self.partial = own.get("allow_partial", False) is True
        if query is not None and queries is not None:
            raise _invalid("query", "give either query or queries, not both")
        if query is None and queries is None:
            raise _invalid("query", "missing: give query (or queries)")
        self.batch = queries is not None
        if self.batch:
            if not isinstance(queries, list):
                raise _invalid("queries", "expected a list")
            if not queries:
                raise _invalid("queries", "is empty")
            self.queries, self.filters = self._batch(queries)
        else:
            if not isinstance(query, str):
                raise _invalid("query", "expected the query's text")
            self.queries, self.filters = [query], [self.filter]
        if len(self.queries) > limits.max_queries:
            raise _invalid("queries", f"{len(self.queries)} queries; at most {limits.max_queries} per request")
        for i, text in enumerate(self.queries):
            at = f"queries[{i}]" if self.batch else "query"
            if not text.strip():
                raise _invalid(at, "is empty")
            if len(text) > limits.max_query_chars:
                raise _invalid(at, f"{len(text)} characters; at most {limits.max_query_chars}")
        k = self.settings.pop("k", 10)
        if isinstance(k, bool) or not isinstance(k, int):
            raise _invalid("k", f"{json.dumps(k)}: expected a whole number")
        if not 1 <= k <= limits.max_k:
            raise _invalid("k", f"{k} is out of range: 1 to {limits.max_k}")
        self.k = k

    def _batch(self, queries: List[Any]) -> Tuple[List[str], List[Any]]:
        texts, filters = [], []
        for i, q in enumerate(queries):
            if isinstance(q, str):
                texts.append(q)
                filters.append(self.filter)
            elif isinstance(q, dict) and isinstance(q.get("query"), str):
                extra = [key for key in q if key not in ("query", "filter")]
                if extra:
                    raise _invalid(f"queries[{i}].{extra[0]}", "unknown field: a query takes query and filter")
                texts.append(q["query"])
                filters.append(q.get("filter", self.filter))
            else:
                raise _invalid(f"queries[{i}]", 'expected a text or {"query": text, "filter": {...}}')
        return texts, filters


def _query_fields(query: str) -> Dict[str, Any]:
    """A query string's fields, typed as JSON would type them (a value that
    reads as JSON is that value: k=3 is 3, filter={...} an object)."""
    out: Dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in ("query", "q"):
            out[key] = value
            continue
        if key == "include_fields" and value not in ("true", "false"):
            out[key] = [n.strip() for n in value.split(",")]
            continue
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


class Coordinator:
    """The HTTP ingress: ``hypencoder serve``'s API over shards."""

    def __init__(self, name: str, shards: Sequence[str], readers: list, writers: list, limits: Limits):
        self.name = name
        self.shards = list(shards)
        self.readers = readers
        self.writers = writers
        self.limits = limits
        # Per shard, the last commit a write acknowledged: reads ask for it.
        # Learnt from the writers at the first request, so a restarted
        # coordinator still reads what was acknowledged before.
        self.generations: List[Optional[int]] = [None] * len(self.shards)
        self.synced = False
        self.requests: Dict[Tuple[str, int], int] = {}

    async def __call__(self, request) -> Any:
        from starlette.responses import JSONResponse, PlainTextResponse

        started = time.perf_counter()
        path = request.url.path
        try:
            body = await request.body()
            if len(body) > self.limits.max_body_bytes:
                raise ApiError(413, "body_too_large", f"request body over {self.limits.max_body_bytes} bytes")
            if not self.synced and path.startswith("/v1/"):
                await self._sync()
            status, answer = await self._route(request.method, path, request.url.query, body)
        except ApiError as e:
            status, answer = e.status, e.body()
        except hypencoder.HypencoderError as e:
            err = _from_engine(e)
            status, answer = err.status, err.body()
        self.requests[(request.method, status)] = self.requests.get((request.method, status), 0) + 1
        if isinstance(answer, str):
            return PlainTextResponse(answer, status_code=status)
        if isinstance(answer, dict) and "took_ms" in answer:
            answer["took_ms"] = (time.perf_counter() - started) * 1e3
        return JSONResponse(answer, status_code=status)

    async def _route(self, method: str, path: str, query: str, body: bytes) -> Tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        routes = {
            ("healthz",): {"GET": lambda: self._health()},
            ("readyz",): {"GET": lambda: self._ready()},
            ("metrics",): {"GET": lambda: self._metrics()},
            ("v1", "indexes"): {"GET": lambda: self._indexes()},
        }
        if tuple(parts) in routes:
            handlers = routes[tuple(parts)]
        elif len(parts) >= 3 and parts[:2] == ["v1", "indexes"]:
            if parts[2] != self.name:
                raise ApiError(404, "unknown_index", f"no index is served as '{parts[2]}'", "name")
            rest = tuple(parts[3:])
            if rest == ("search",):
                handlers = {
                    "POST": lambda: self._search(_Request(self._json(body), self.limits)),
                    "GET": lambda: self._search(self._get_request(query)),
                }
            elif rest == ("documents",):
                handlers = {"PUT": lambda: self._put(self._json(body)), "DELETE": lambda: self._delete(self._json(body))}
            elif len(rest) == 2 and rest[0] == "documents":
                handlers = {"GET": lambda: self._document(rest[1])}
            else:
                raise ApiError(404, "not_found", f"no endpoint at {path}")
        else:
            raise ApiError(404, "not_found", f"no endpoint at {path}")
        if method not in handlers:
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}")
        return await handlers[method]()

    @staticmethod
    def _json(body: bytes) -> Dict[str, Any]:
        try:
            value = json.loads(body)
        except ValueError as e:
            raise ApiError(400, "malformed_json", f"request body: {e}")
        if not isinstance(value, dict):
            raise ApiError(400, "invalid_field", "request body: expected a JSON object")
        return value

    def _get_request(self, query: str) -> _Request:
        request = _Request(_query_fields(query), self.limits)
        if request.batch:
            raise _invalid("queries", "a batch is POSTed, not in a URL")
        return request

    async def _health(self):
        return 200, {"status": "ok"}

    async def _ready(self):
        """Ready when every shard's reader answers at once (no retry)."""
        answers = await asyncio.gather(
            *[asyncio.wait_for(_awaited(r.info.remote()), self.limits.shard_timeout_seconds) for r in self.readers],
            return_exceptions=True,
        )
        missing = [s for s, a in zip(self.shards, answers) if isinstance(a, BaseException)]
        if missing:
            return 503, {"status": "unavailable", "missing": missing}
        return 200, {"status": "ok"}

    async def _metrics(self):
        lines = [
            "# TYPE hypencoder_requests counter",
            *[
                f'hypencoder_requests_total{{method="{m}",status="{s}"}} {n}'
                for (m, s), n in sorted(self.requests.items())
            ],
            "# TYPE hypencoder_shards gauge",
            f"hypencoder_shards {len(self.shards)}",
            "# EOF",
        ]
        return 200, "\n".join(lines) + "\n"

    async def _indexes(self):
        infos = await self._each(self._info)
        infos = [infos[s] for s in range(len(self.shards))]
        first = dict(infos[0])
        first["documents"] = sum(i["documents"] for i in infos)
        first["segments"] = sum(i["segments"] for i in infos)
        first["generation"] = sum(i["generation"] for i in infos)
        first["shards"] = [{"name": s, **i} for s, i in zip(self.shards, infos)]
        return 200, {"indexes": [{"name": self.name, **first}]}

    async def _sync(self) -> None:
        """Each shard's last commit, from its writer (a writer not up yet
        is asked again at the next request)."""
        found = await self._each(lambda s: self.writers[s].generation.remote(), partial=True)
        for s, generation in found.items():
            self.generations[s] = max(self.generations[s] or 0, generation)
        self.synced = len(found) == len(self.shards)

    def _info(self, s: int):
        return self.readers[s].info.remote(self.generations[s])

    async def _each(self, call, shards: Optional[Sequence[int]] = None, partial: bool = False) -> Dict[int, Any]:
        """``call(shard)`` for each shard (default: all), concurrently. A
        call that fails for anything but an engine error (a replica lost,
        restarting) is made again, so Serve routes it to a live replica,
        within ``shard_timeout_seconds`` in all; a shard that has not
        answered by then (Serve holds calls while none of its replicas is
        up) is a 503 naming it, or with ``partial`` left out."""
        shards = range(len(self.shards)) if shards is None else shards

        async def one(s: int):
            deadline = time.monotonic() + self.limits.shard_timeout_seconds
            delay = 0.05
            while True:
                try:
                    left = max(0.001, deadline - time.monotonic())
                    return await asyncio.wait_for(_awaited(call(s)), left)
                except hypencoder.HypencoderError:
                    raise
                except Exception as e:  # noqa: BLE001 - a lost replica, whatever Ray calls it
                    if time.monotonic() + delay > deadline:
                        raise _ShardDown(self.shards[s], e) from e
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, 1.0)

        answers = await asyncio.gather(*[one(s) for s in shards], return_exceptions=True)
        out = {}
        for s, answer in zip(shards, answers):
            if isinstance(answer, _ShardDown) and partial:
                continue
            if isinstance(answer, BaseException):
                raise answer
            out[s] = answer
        return out

    async def _search(self, request: _Request):
        # Queries sharing a filter go together; each group runs both rounds.
        groups: Dict[Optional[str], List[int]] = {}
        for i, f in enumerate(request.filters):
            groups.setdefault(None if f is None else json.dumps(f, sort_keys=True), []).append(i)
        results: List[Any] = [None] * len(request.queries)
        mode, missing = None, set()
        for filter_json, members in groups.items():
            texts = [request.queries[i] for i in members]
            stats = await self._each(
                lambda s: self.readers[s].stats.remote(texts, self.generations[s]), partial=request.partial
            )
            shards = sorted(stats)
            ranked = [stats[s] for s in shards]
            answers = await self._each(
                lambda s: self.readers[s].search_shard.remote(
                    texts, ranked, request.k, filter_json, request.settings, self.generations[s]
                ),
                shards,
                partial=request.partial,
            )
            # A shard lost between the rounds is left out of the second.
            shards = sorted(answers)
            missing |= {self.shards[s] for s in range(len(self.shards)) if s not in answers}
            if not shards:
                raise ApiError(503, "shard_unavailable", "no shard answered")
            mode = json.loads(answers[shards[0]])["hits"]["mode"]
            hits, warnings = _native.combine_shards([answers[s] for s in shards])
            for i, (ids, scores, places) in zip(members, hits):
                where = [shards[p] for p in places]
                results[i] = await self._hits(request, ids, scores, where, warnings)
        flags = {"partial": True, "missing": sorted(missing)} if missing else {}
        if request.batch:
            return 200, {"results": results, "took_ms": 0.0, "mode": mode, **flags}
        return 200, {**results[0], "took_ms": 0.0, "mode": mode, **flags}

    async def _hits(self, request: _Request, ids, scores, shards, warnings) -> Dict[str, Any]:
        hits = [{"id": d, "score": s, "rank": r} for r, (d, s) in enumerate(zip(ids, scores))]
        if request.include_text or request.include_fields:
            docs = await self._lookup(list(zip(ids, shards)))
            names = request.include_fields if isinstance(request.include_fields, list) else None
            for hit in hits:
                doc = docs.get(hit["id"], {})
                if request.include_text:
                    hit["text"] = doc.get("text")
                if request.include_fields:
                    fields = doc.get("fields", {})
                    hit["fields"] = {k: v for k, v in fields.items() if names is None or k in names}
        out: Dict[str, Any] = {"hits": hits}
        if warnings:
            out["warnings"] = warnings
        return out

    async def _lookup(self, where: List[Tuple[str, int]]) -> Dict[str, Any]:
        by_shard: Dict[int, List[str]] = {}
        for doc_id, shard in where:
            by_shard.setdefault(shard, []).append(doc_id)
        found = await self._each(
            lambda s: self.readers[s].documents.remote(by_shard[s], self.generations[s]), list(by_shard)
        )
        return {k: v for part in found.values() for k, v in part.items()}

    async def _document(self, doc_id: str):
        found = await self._each(lambda s: self.readers[s].documents.remote([doc_id], self.generations[s]))
        for part in found.values():
            if doc_id in part:
                return 200, {"id": doc_id, **part[doc_id]}
        raise ApiError(404, "unknown_document", f"index '{self.name}' holds no document '{doc_id}'", "id")

    async def _holders(self, ids: List[str]) -> Dict[str, int]:
        """The shard holding each of `ids` that some shard holds."""
        found = await self._each(lambda s: self.readers[s].documents.remote(ids, self.generations[s]))
        return {doc_id: shard for shard, part in found.items() for doc_id in part}

    async def _put(self, body: Dict[str, Any]):
        extra = [key for key in body if key != "documents"]
        if extra:
            raise _invalid(extra[0], f"unknown field `{extra[0]}`")
        documents = body.get("documents")
        if not isinstance(documents, list) or not documents:
            raise _invalid("documents", "is empty")
        if len(documents) > self.limits.max_queries:
            raise _invalid("documents", f"{len(documents)} documents; at most {self.limits.max_queries} per request")
        seen: Dict[str, int] = {}
        for i, d in enumerate(documents):
            if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not isinstance(d.get("text"), str):
                raise _invalid(f"documents[{i}]", "expected {\"id\": ..., \"text\": ..., \"fields\": {...}}")
            if not d["id"]:
                raise _invalid(f"documents[{i}].id", "is empty")
            if d["id"] in seen:
                raise _invalid(f"documents[{i}].id", f"'{d['id']}' repeats documents[{seen[d['id']]}]")
            seen[d["id"]] = i
        holders = await self._holders(list(seen))
        by_shard: Dict[int, List[Dict[str, Any]]] = {}
        for d in documents:
            shard = holders.get(d["id"], shard_of(d["id"], len(self.shards)))
            by_shard.setdefault(shard, []).append(d)
        any_fields = any(d.get("fields") for d in documents)

        def put(s: int):
            docs = by_shard[s]
            fields = [json.dumps(d.get("fields", {})) for d in docs] if any_fields else None
            return self.writers[s].put.remote([d["id"] for d in docs], [d["text"] for d in docs], fields)

        return await self._written(put, list(by_shard))

    async def _delete(self, body: Dict[str, Any]):
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids:
            raise _invalid("ids", "is empty")
        holders = await self._holders(ids)
        by_shard: Dict[int, List[str]] = {}
        for doc_id in ids:
            if doc_id in holders:
                by_shard.setdefault(holders[doc_id], []).append(doc_id)
        answer = await self._written(lambda s: self.writers[s].delete.remote(by_shard[s]), list(by_shard))
        answer[1]["unknown"] = [d for d in ids if d not in holders]
        return answer

    async def _written(self, write, shards: List[int]):
        """Runs ``write(shard)`` on each shard's writer (PUT and DELETE are
        idempotent by id, so a write retried after its writer was lost
        does no harm) and answers once every shard's commit is durable."""
        done = await self._each(write, shards)
        reports = [done[s] for s in shards]
        for s, report in zip(shards, reports):
            self.generations[s] = max(self.generations[s] or 0, report[4])
        infos = list((await self._each(self._info)).values())
        total = lambda i: sum(r[i] for r in reports)  # noqa: E731
        return 200, {
            "added": total(0),
            "replaced": total(1),
            "deleted": total(2),
            "unknown": [u for r in reports for u in r[3]],
            "generation": sum(i["generation"] for i in infos),
            "documents": sum(i["documents"] for i in infos),
            "took_ms": 0.0,
        }


# Requests a replica takes at once. Serve's default (5) leaves a loaded
# reader nothing to batch and makes the rest wait and poll: at 64
# connections the sharded server answered 5 QPS on 2 cores, with the CPU
# mostly idle (bench/ray-serve/README.md). A reader batches what it holds
# (``_batched``); the coordinator only awaits.
READER_CONCURRENCY = 64
COORDINATOR_CONCURRENCY = 1024


def app(
    shards: Sequence[Tuple[str, str]],
    *,
    name: str = "index",
    replicas: int = 1,
    cpus_per_replica: float = 1,
    limits: Optional[Limits] = None,
):
    """The Ray Serve application serving `shards` ((name, folder) pairs, in
    the order their rows are numbered) as one index called `name`: per
    shard a reader deployment of `replicas` replicas and a writer of one,
    and the coordinator at the HTTP ingress. Run it with ``serve.run``."""
    readers, writers = [], []
    for shard, path in shards:
        path = os.path.abspath(path)
        readers.append(
            serve.deployment(ShardReader, name=f"reader-{shard}", num_replicas=replicas,
                             max_ongoing_requests=READER_CONCURRENCY,
                             ray_actor_options={"num_cpus": cpus_per_replica}).bind(shard, path)
        )
        writers.append(
            serve.deployment(ShardWriter, name=f"writer-{shard}", num_replicas=1,
                             ray_actor_options={"num_cpus": 0}).bind(shard, path)
        )
    coordinator = serve.deployment(Coordinator, name="coordinator", max_ongoing_requests=COORDINATOR_CONCURRENCY,
                                   ray_actor_options={"num_cpus": 0})
    return coordinator.bind(name, [s for s, _ in shards], readers, writers, limits or Limits())


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m hypencoder.ray.serve",
        description="Serve index shards on Ray Serve with hypencoder serve's HTTP API.",
    )
    parser.add_argument("--shard", action="append", required=True, metavar="NAME=DIR",
                        help="a shard's name and folder, in row order; repeat per shard")
    parser.add_argument("--name", default="index", help="the index's name in the API [default: index]")
    parser.add_argument("--replicas", type=int, default=1, help="reader replicas per shard [default: 1]")
    parser.add_argument("--cpus-per-replica", type=float, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", default=None, help="a Ray cluster's address [default: start a local Ray]")
    parser.add_argument("--max-k", type=int, default=1000)
    parser.add_argument("--max-query-chars", type=int, default=4096)
    parser.add_argument("--max-queries", type=int, default=1024)
    parser.add_argument("--max-body-bytes", type=int, default=1 << 20)
    parser.add_argument("--shard-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long a shard may take to answer before the request gets 503 naming it "
                             "(or, with allow_partial, results without it) [default: 30]")
    args = parser.parse_args(argv)
    shards = []
    for spec in args.shard:
        shard, sep, path = spec.partition("=")
        if not sep or not shard or not path:
            parser.error(f"--shard {spec!r}: expected NAME=DIR")
        if not os.path.isdir(path):
            parser.error(f"--shard {spec!r}: {path} is not a folder")
        shards.append((shard, path))
    import ray

    ray.init(address=args.address)
    serve.start(http_options={"host": args.host, "port": args.port})
    limits = Limits(args.max_k, args.max_query_chars, args.max_queries, args.max_body_bytes, args.shard_timeout)
    serve.run(
        app(shards, name=args.name, replicas=args.replicas, cpus_per_replica=args.cpus_per_replica, limits=limits),
        route_prefix="/",
        blocking=True,
    )


if __name__ == "__main__":
    main()
