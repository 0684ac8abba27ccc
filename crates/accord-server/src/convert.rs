//! Old path of [`crate::api`]; kept for imports.

pub use crate::api::*;
