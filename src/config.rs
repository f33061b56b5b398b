//! The one YAML configuration file (`--config`). Every key is documented in
//! README.md; each module owns the section it reads.
