//! edge-node (work in progress).
