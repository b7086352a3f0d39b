//! Integration tests of hypencoder-index, one binary: the folder format
//! (`index`), its lexical part (`lexical`) and live indexes of segments
//! (`live`).

mod index;
mod lexical;
mod live;
