"""Type stubs for the compiled half of the package (``hypencoder._native``).
Use the wrappers in ``hypencoder`` (``Model``, ``Index``, ``build_index``,
``merge``), which fill in the default model and its base."""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, os.PathLike[str]]

class HypencoderError(Exception):
    """An error from the engine: a bad file, index or model; the message
    names it (file, line, field), as the CLI's does. The subclasses below
    say which kind; ``field`` (an attribute, None where none) names the
    setting at fault."""

class LockedError(HypencoderError):
    """Another process holds the index's write lock: retry later."""

class NotFoundError(HypencoderError):
    """No such index, document or id."""

class InvalidInputError(HypencoderError):
    """Bad input: a setting, a document, a record of a file, or one that
    clashes with what exists."""

class UnsupportedError(HypencoderError):
    """The index lacks what the operation needs (a graph, a lexical part,
    texts, one segment) or is of a newer format."""

class CorruptIndexError(HypencoderError):
    """A file of the index is damaged."""

class ModelUnavailableError(HypencoderError):
    """The model cannot be loaded, or is not the one the index was built
    with."""

class BaseModelNotFoundError(ModelUnavailableError):
    """A head-only checkpoint's base transformer is not where it names it."""

SEARCH_SETTINGS: List[str]
"""Every search setting's name: each a keyword argument of ``Index.search``."""

class Model:
    def __new__(
        cls,
        path: _Path,
        base: Optional[_Path] = None,
        max_length: Optional[int] = None,
        query_max_length: Optional[int] = None,
        encode_precision: str = "f32",
    ) -> "Model": ...
    @property
    def dim(self) -> int:
        """Width of the document vectors."""
    @property
    def encode_precision(self) -> str:
        """"f32", "int8" or "bf16": the arithmetic documents are encoded with."""
    @property
    def kind(self) -> str:
        """"hypencoder" or "bi-encoder"."""
    @property
    def path(self) -> str:
        """The folder the model was loaded from."""
    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> npt.NDArray[np.float32]:
        """Document vectors, one row per text: float32 (n, dim)."""
    def score(
        self, queries: Sequence[str], documents: Sequence[str], batch_size: int = 32
    ) -> npt.NDArray[np.float32]:
        """Every query against every document (as ``hypencoder score``):
        float32 (len(queries), len(documents))."""

class Index:
    def __new__(
        cls, path: _Path, model: Optional[Model] = None, base: Optional[_Path] = None
    ) -> "Index": ...
    def __len__(self) -> int: ...
    @property
    def ids(self) -> List[str]:
        """Document ids in index order (deleted ones left out)."""
    def document(self, id: str) -> Optional[str]:
        """The stored text of document ``id`` (None if texts are not kept);
        KeyError if there is no such document."""
    def document_fields(self, id: str) -> str:
        """The fields of document ``id`` as JSON text; KeyError if there is
        no such document."""
    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        filter: Optional[str] = None,
        with_fields: bool = False,
        *,
        mode: Optional[str] = None,
        candidates: Optional[int] = None,
        fusion: Optional[str] = None,
        alpha: Optional[float] = None,
        rrf_k: Optional[float] = None,
        neural: Optional[str] = None,
        algorithm: Optional[str] = None,
        entry_points: Optional[int] = None,
        ef: Optional[int] = None,
        expand: Optional[int] = None,
        ncandidates: Optional[int] = None,
        max_iter: Optional[int] = None,
        no_early_stop: Optional[bool] = None,
        seed: Optional[int] = None,
        precision: Optional[str] = None,
        bm25_k1: Optional[float] = None,
        bm25_b: Optional[float] = None,
    ) -> List[Tuple[List[str], List[float], Optional[List[str]]]]:
        """The top ``k`` of each query: (ids, scores, fields), best first;
        fields (each hit's, JSON text) with ``with_fields``. ``filter``: a
        filter's JSON text. Every name in ``SEARCH_SETTINGS`` is a keyword
        (None: the index's own, which ``tune`` records, else the shipped
        default)."""
    def info(self) -> Dict[str, Any]:
        """What the index holds and can answer, as the server's index list
        gives it."""
    @property
    def generation(self) -> int:
        """The commit the index is open at."""
    def refresh(self, generation: Optional[int] = None) -> int:
        """Opens the folder again if open at a commit before
        ``generation`` (None: always); the generation open now."""
    def shard_stats(self, queries: Sequence[str]) -> str:
        """First round of a search over shards: this shard's rows and BM25
        statistics per query, as JSON text."""
    def search_shard(
        self,
        queries: Sequence[str],
        stats: Sequence[str],
        k: int = 10,
        filter: Optional[str] = None,
        *,
        mode: Optional[str] = None,
        candidates: Optional[int] = None,
        fusion: Optional[str] = None,
        alpha: Optional[float] = None,
        rrf_k: Optional[float] = None,
        neural: Optional[str] = None,
        algorithm: Optional[str] = None,
        entry_points: Optional[int] = None,
        ef: Optional[int] = None,
        expand: Optional[int] = None,
        ncandidates: Optional[int] = None,
        max_iter: Optional[int] = None,
        no_early_stop: Optional[bool] = None,
        seed: Optional[int] = None,
        precision: Optional[str] = None,
        bm25_k1: Optional[float] = None,
        bm25_b: Optional[float] = None,
    ) -> str:
        """Second round: this shard's candidates (JSON text), searched as
        part of the collection whose shards answered ``stats``."""
    @property
    def search_defaults(self) -> Dict[str, Any]:
        """Search settings recorded in the index by ``tune``, by name
        (empty: the shipped defaults)."""
    def tune(
        self,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, int]],
        metric: str = "mrr@10",
        dry_run: bool = False,
    ) -> Dict[str, Any]:
        """Chooses the index's hybrid settings on judged queries (query id
        to text; query id to document id to grade) and, unless ``dry_run``,
        records them when the gain holds up on held-out folds. Returns every
        setting's score (``rows``, best first), ``shipped``, ``gain``,
        ``held_out_gain``, ``p_value``, ``decision`` and ``generation``."""

class IndexWriter:
    """Writes an index piece from precomputed vectors; ``add`` rows, then
    ``finish``. A failed run leaves no index."""

    def __new__(
        cls,
        path: _Path,
        model: Model,
        dtype: str = "f32",
        texts: bool = True,
        lexical: bool = True,
        source: Optional[str] = None,
    ) -> "IndexWriter": ...
    def add(
        self,
        ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
        texts: Optional[Sequence[str]] = None,
    ) -> None:
        """Adds rows: unique ids, vectors float32 (len(ids), dim), texts."""
    def finish(self) -> int:
        """Writes the index and moves it into place; returns its size."""

class LiveWriter:
    """The one writer of an index folder (holding its write lock): each
    change one durable commit."""

    def __new__(
        cls, path: _Path, model: Optional[Model] = None, base: Optional[_Path] = None
    ) -> "LiveWriter": ...
    def put(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        fields: Optional[Sequence[str]] = None,
        batch_size: int = 32,
    ) -> Tuple[int, int, int, List[str], int]:
        """Adds (or replaces) documents as one commit: (added, replaced,
        deleted, unknown, generation) once durable."""
    def delete(self, ids: Sequence[str]) -> Tuple[int, int, int, List[str], int]:
        """Deletes documents by id as one commit; returns as ``put``."""
    def merge(self) -> Optional[int]:
        """Merges what the default policy picks; the commit, or None."""
    @property
    def generation(self) -> int:
        """The last commit's generation."""

def build_index_from(
    ids: Sequence[str],
    texts: Sequence[str],
    path: _Path,
    model: Model,
    batch_size: int = 32,
    dtype: str = "f32",
    store_texts: bool = True,
    lexical: bool = True,
    graph_degree: Optional[int] = None,
    fields: Optional[Sequence[str]] = None,
) -> int: ...
def read_corpus_file(
    path: _Path, id_field: str = "id", text_field: str = "text"
) -> Tuple[List[str], List[str], Optional[List[str]]]: ...
def resolve_encode_precision(name: str) -> str: ...
def merge(
    pieces: Sequence[_Path],
    output: _Path,
    lexical: bool = True,
    graph_degree: Optional[int] = None,
) -> int: ...
def combine_shards(
    answers: Sequence[str],
) -> Tuple[List[Tuple[List[str], List[float], List[int]]], List[str]]: ...
