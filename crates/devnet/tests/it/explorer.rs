//! The explorer (`explorer/`): its candid declarations are generated from `candid/*.did`, and
//! headless Chromium loads it from a running devnet and checks real values against the
//! canisters (`explorer/test/explorer.mjs`, puppeteer-core driving Debian's `chromium`),
//! saving screenshots under `target/explorer-screenshots/`.
//!
//! `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::` rewrites the declarations.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The JavaScript IDL factory and the TypeScript types of one `.did`, as `dfx generate`
/// writes them (candid_parser's bindings).
fn declarations(did: &Path) -> (String, String) {
    let (env, actor, prog) = candid_parser::typing::check_file(did).unwrap();
    let header = format!(
        "// Generated from candid/{} by `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`: do not edit.\n",
        did.file_name().unwrap().to_string_lossy()
    );
    let js = candid_parser::bindings::javascript::compile(&env, &actor);
    // candid_parser names the agent's new packages (@icp-sdk/core); the explorer uses
    // @dfinity/agent, @dfinity/candid and @dfinity/principal, which export the same types.
    let ts = candid_parser::bindings::typescript::compile(&env, &actor, &prog)
        .replace("'@icp-sdk/core/principal'", "'@dfinity/principal'")
        .replace("'@icp-sdk/core/agent'", "'@dfinity/agent'")
        .replace("'@icp-sdk/core/candid'", "'@dfinity/candid'");
    (format!("{header}{js}"), format!("{header}{ts}"))
}

#[test]
fn idl_declarations_are_generated_from_the_did_files() {
    let update = std::env::var_os("UPDATE_IDL").is_some();
    let out = root().join("explorer/src/declarations");
    let mut stale = Vec::new();
    for name in ["ledger", "registry", "epochs", "market"] {
        let (js, ts) = declarations(&root().join(format!("candid/{name}.did")));
        for (file, text) in [
            (format!("{name}.did.js"), js),
            (format!("{name}.did.d.ts"), ts),
        ] {
            let path = out.join(&file);
            if update {
                std::fs::create_dir_all(&out).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "explorer/src/declarations is stale ({stale:?}): run \
         `UPDATE_IDL=1 cargo test -p emc-devnet --test it explorer::`"
    );
}
