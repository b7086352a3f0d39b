//! Integration tests of hypencoder-train, one binary: backpropagation
//! against finite differences (`gradients`) and training runs end to end on
//! the tiny fixture model (`train`).

mod gradients;
mod train;
