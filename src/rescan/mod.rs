//! TODO(owner of rescan)
