//! On-disk index: vectors, ids, document text, manifest; mmap readers, crash-safe writers.
