//! What the commands share, so that no command module imports another:
//! the choice flags as typed enums and their conversion to the engine's
//! types (`choices`), the flag groups several commands flatten in
//! (`flags`), the default model and an index opened with its own
//! (`model`), the engine's errors with the command that fixes them
//! (`hints`) and progress bars (`progress`).

mod choices;
mod flags;
mod hints;
mod model;
mod progress;

pub use choices::{
    AlgorithmArg, DtypeArg, FormatArg, FusionArg, InitArg, KindArg, LossArg, MetricArg, ModeArg,
    NeuralArg, PrecisionArg, TrainModeArg, WeightDtypeArg,
};
pub use flags::{record_fields, EncodePrecisionArg, FieldArgs, GraphBuildArgs, ModelArgs};
pub use hints::{hinted, records_hinted, Hinted};
pub use model::open_collection;
pub use progress::{clock, encode_with_progress, progress_bar, progress_style, Bar};
