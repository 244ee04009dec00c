//! emc-net (work in progress).
