//! Scorers (q-net, dot product), exhaustive search, top-k collection.
