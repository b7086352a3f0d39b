//! Hypencoder and bi-encoder models on the CPU: checkpoint loading (official
//! `HypencoderDualEncoder` folders, sentence-transformers and BERT folders),
//! tokenisation, BERT inference, the hyper-head that turns a query into a
//! q-net, and pooling. Knows nothing of indexes.

mod activate;
pub mod bert;
pub mod config;
pub mod error;
pub mod hyperhead;
pub mod model;
pub mod qnet;
pub mod tokenize;
pub mod weights;

pub use activate::activate;
pub use bert::EncodePrecision;
pub use config::{Activation, BertConfig, HypencoderConfig, Pooling, QNetConfig};
pub use error::{ModelError, Result};
pub use model::{LoadOptions, Model, ModelKind, QueryRepresentation, TextEncoder};
pub use qnet::{QNet, QNetBatch, QNET_LN_EPS};
pub use tokenize::{TextTokenizer, TokenBatch};
