"""Encoding a corpus on Ray, and searching index shards with Ray actors.

Encoding: Ray Data reads the corpus, ``map_batches`` runs an actor pool
(each actor loads the model once and encodes on its own cores), each actor
writes the blocks it encodes as index pieces, and :func:`hypencoder.merge`
combines the pieces into one index, rows in corpus order. A failed run
leaves no index at ``output`` (pieces are written to a scratch folder
beside it; the final index appears whole or not at all).

Search: :class:`ShardedIndex` holds one actor per index shard (one per
machine in a cluster, or per piece), broadcasts each batch of query texts
to every shard (each builds the q-nets itself: a query is bytes of text,
where a 6-layer 768-d q-net is ~14 MB), and ranks the shards' candidates
once, in two rounds, as one index holding them all would rank them.

Runs on a local Ray (``ray.init(num_cpus=2)``) as on a cluster; see
docs/scale-out.md.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings as warnings_module
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import hypencoder

__all__ = ["encode_corpus", "ShardedIndex"]


class _Encoder:
    """A Ray actor: loads the model once; encodes blocks and writes each as
    an index piece named after its first row (so pieces sort into corpus
    order)."""

    def __init__(
        self, model_path: Optional[str], pieces_dir: str, batch_size: int, dtype: str, precision: str
    ):
        self.model = hypencoder.Model(model_path, encode_precision=precision)
        self.pieces_dir = pieces_dir
        self.batch_size = batch_size
        self.dtype = dtype

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        rows = batch["row"]
        ids = [str(i) for i in batch["id"]]
        texts = [str(t) for t in batch["text"]]
        vectors = self.model.encode_documents(texts, batch_size=self.batch_size)
        piece = os.path.join(self.pieces_dir, f"piece-{int(rows[0]):012d}")
        # No lexical part per piece: the merge builds one over all texts.
        writer = hypencoder.IndexWriter(
            piece,
            self.model,
            dtype=self.dtype,
            lexical=False,
            source=f"ray block from row {int(rows[0])}",
        )
        writer.add(ids, vectors, texts)
        writer.finish()
        return {"piece": np.array([piece]), "first": np.array([int(rows[0])]), "docs": np.array([len(ids)])}


def encode_corpus(
    corpus: str,
    output: str,
    model: Optional[str] = None,
    *,
    actors: int = 2,
    cpus_per_actor: float = 1,
    block_size: int = 1024,
    batch_size: int = 32,
    dtype: str = "f32",
    encode_precision: str = "auto",
    graph_degree: Optional[int] = None,
    lexical: bool = True,
    id_field: str = "id",
    text_field: str = "text",
) -> hypencoder.Index:
    """Encodes the JSONL ``corpus`` into a new index at ``output`` on the
    running Ray cluster (``ray.init`` first), with ``actors`` encoder actors
    of ``cpus_per_actor`` CPUs each. ``model``: a model folder every worker
    can read (default: the packaged default model). ``block_size``: rows
    per index piece. ``encode_precision``: as ``hypencoder index``'s;
    "auto" is resolved here, on the driver, so every actor encodes alike.
    Ids are checked as ``hypencoder index`` checks them
    (read on the driver, so errors name the line), and the merged index has
    the corpus's rows in corpus order."""
    import ray

    if os.path.exists(output):
        raise hypencoder.HypencoderError(f"{output} already exists; remove it or choose another folder")
    precision = hypencoder._native.resolve_encode_precision(encode_precision)
    ids, texts, fields = hypencoder._native.read_corpus_file(os.fspath(corpus), id_field, text_field)
    if fields is not None:
        raise hypencoder.HypencoderError(
            f"{corpus}: its documents have fields, which encoding on Ray does not store yet; "
            "build with hypencoder.build_index or `hypencoder index`"
        )
    scratch = Path(f"{output}.ray-{uuid.uuid4().hex[:8]}")
    scratch.mkdir(parents=True)
    try:
        rows = ray.data.from_items(
            [{"row": i, "id": d, "text": t} for i, (d, t) in enumerate(zip(ids, texts))]
        )
        written = rows.map_batches(
            _Encoder,
            fn_constructor_args=(model, str(scratch), batch_size, dtype, precision),
            batch_size=block_size,
            batch_format="numpy",
            concurrency=actors,
            num_cpus=cpus_per_actor,
            # The engine's thread pool as wide as the actor's share.
            runtime_env={"env_vars": {"RAYON_NUM_THREADS": str(max(1, int(cpus_per_actor)))}},
        ).take_all()
        pieces = [w["piece"] for w in sorted(written, key=lambda w: int(w["first"]))]
        if sum(int(w["docs"]) for w in written) != len(ids):
            raise hypencoder.HypencoderError("the encoded pieces do not hold every document")
        return hypencoder.merge(pieces, output, lexical=lexical, graph_degree=graph_degree)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _Shard:
    """A Ray actor holding one index shard; answers both rounds of a
    search over shards (JSON text both ways)."""

    def __init__(self, path: str):
        self.index = hypencoder.Index(path)

    def stats(self, queries: List[str]) -> str:
        return self.index.shard_stats(queries)

    def search_shard(
        self, queries: List[str], stats: List[str], k: int, filter: Optional[str], options: dict
    ) -> str:
        return self.index.search_shard(queries, stats, k, filter, **options)

    def __len__(self) -> int:
        return len(self.index)


class ShardedIndex:
    """Search over index shards, one Ray actor each, answering as one index
    holding the shards one after another would, in every mode.

    Each batch of queries takes two rounds. First every shard reports its
    BM25 statistics for the queries' terms (document count, term
    frequencies, length; a few numbers per term), so that in the second
    every shard scores BM25 with the whole collection's statistics. In the
    second, every shard returns its best candidates of each side the mode
    ranks by (BM25's, the neural side's), each with both scores, and
    :func:`hypencoder._native.combine_shards` ranks them once: hybrid
    fusion normalises over the whole collection's candidates, ties go to
    the earlier shard, then the earlier row. Graph walks give each shard
    its share of the beam, as one index gives each of its segments.
    Shards must be built with one document encoder.
    """

    def __init__(self, paths: Sequence[str], *, cpus_per_shard: float = 1):
        import ray

        actor = ray.remote(num_cpus=cpus_per_shard)(_Shard)
        self.shards = [actor.remote(os.fspath(p)) for p in paths]

    def __len__(self) -> int:
        import ray

        return sum(ray.get([s.__len__.remote() for s in self.shards]))

    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        mode: Optional[str] = None,
        filter: Optional[Dict] = None,
        **options,
    ) -> List[Tuple[List[str], List[float]]]:
        """The top ``k`` of each query over all shards: ``(ids, scores)``
        per query, best first. ``mode``, ``filter`` and every other setting
        as :meth:`hypencoder.Index.search` takes them."""
        import ray

        queries = list(queries)
        if mode is not None:
            options["mode"] = mode
        filter_json = None if filter is None else json.dumps(filter)
        stats = ray.get([s.stats.remote(queries) for s in self.shards])
        answers = ray.get(
            [s.search_shard.remote(queries, stats, k, filter_json, options) for s in self.shards]
        )
        hits, warnings = hypencoder._native.combine_shards(answers)
        for warning in warnings:
            warnings_module.warn(warning, UserWarning, stacklevel=2)
        return [(ids, scores) for ids, scores, _ in hits]
