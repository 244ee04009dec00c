//! emc-router (work in progress).
