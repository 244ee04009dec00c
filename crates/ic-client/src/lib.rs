//! emc-ic-client (work in progress).
