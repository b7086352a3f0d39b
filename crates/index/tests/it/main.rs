//! Integration tests of hypencoder-index, one binary: the folder format
//! (`index`), documents' fields and filters (`fields`), its lexical part
//! (`lexical`) and live indexes of segments (`live`).

mod fields;
mod index;
mod lexical;
mod live;
