//! JSON logging (placeholder until the module lands).
