/// Every way protocol data can be rejected. Messages are safe to show to clients: they name
/// what was wrong with the input, never anything about the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    // --- proofs (proof.rs)
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("no consistency proof exists from size {old} to size {new}")]
    InvalidSizes { old: u64, new: u64 },
    #[error("proof has {got} hashes where {want} are needed")]
    ProofLength { got: usize, want: usize },
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,

    // --- tiles and entry bundles (tile.rs)
    #[error("malformed tile path: {0}")]
    TilePath(String),
    #[error("malformed tile: {0}")]
    Tile(String),
    #[error("malformed entry bundle: {0}")]
    Bundle(String),

    // --- signed notes and checkpoints (note.rs, checkpoint.rs)
    #[error("malformed signed note: {0}")]
    Note(String),
    #[error("no known key produced a valid signature on the note")]
    UnverifiedNote,
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),
    #[error("signing failed: {0}")]
    Signing(String),
}
