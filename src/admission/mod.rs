//! TODO(owner of admission)
