//! Integration tests of hypencoder-index, one binary: the folder format
//! (`index`) and its lexical part (`lexical`).

mod index;
mod lexical;
