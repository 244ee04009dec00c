//! The client's integration tests, one test binary (one link) for all; each module was a test
//! binary of its own. `cargo test -p emc-ic-client --test it <module>::` runs one module.
//!
//! * `agent`: `AgentClient` without a replica (PEM identities from `tests/fixtures/`,
//!   principals, transport errors).
//! * `embedded`: the embedded host with the real ledger, registry and epochs wasm through the
//!   typed wrappers (`scripts/build-canisters.sh` first).

mod agent;
mod embedded;
