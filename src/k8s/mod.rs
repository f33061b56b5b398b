//! TODO(owner of k8s)
