//! What the commands share, so that no command module imports another:
//! the choice flags as typed enums and their conversion to the library's
//! types (`choices`), the flag groups several commands flatten in (`flags`),
//! finding and checking models (`model`), progress
//! bars (`progress`), opening an index with a hint of the command that
//! fixes it (`index`) and building an index's neighbour graph (`graph`, run by
//! both `graph` and `index --graph-degree`).

mod choices;
mod flags;
mod graph;
mod index;
mod model;
mod progress;

pub use choices::{
    AlgorithmArg, ConstructionArg, DtypeArg, FormatArg, FusionArg, InitArg, KindArg, LossArg,
    MetricArg, ModeArg, NeuralArg, PrecisionArg, TrainModeArg,
};
pub use flags::{FieldArgs, GraphBuildArgs, ModelArgs};
pub use graph::build_graph;
pub use index::{open_index, open_live};
pub use model::{index_model, live_model, moved_hint};
pub use progress::{encode_with_progress, progress_bar, progress_style};
