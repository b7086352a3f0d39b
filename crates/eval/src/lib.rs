//! TREC runs and qrels, retrieval metrics.
