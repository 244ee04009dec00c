//! End-to-end and whole-system tests live in `tests/`; this library is empty.
