//! Certificate-authority building blocks that are pure data transformations: turning a verified
//! identity (issuer URL plus the CI claims an issuer's templates rendered) into the exact
//! extension bytes Fulcio puts in a leaf, so that our certificates are byte-compatible with
//! production Fulcio. Key handling, signing and certificate assembly live elsewhere and consume
//! these values.

pub mod extensions;
