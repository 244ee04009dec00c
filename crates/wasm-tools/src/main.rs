//! `emc-wasm-tools`: the release step of `scripts/build-canisters.sh`.
//!
//! ```text
//! emc-wasm-tools canister --raw <raw.wasm> --out <dir>/<name>.wasm
//!                         [--candid <name>.did] [--git-commit <rev>]
//! ```
//!
//! Reads the module cargo produced, shrinks it with DFINITY's `ic-wasm` (drops every custom
//! section except `icp:*` metadata, i.e. the name section, `producers` and
//! `target_features`, and removes unreachable functions; the code itself is not rewritten, so
//! instruction counts stay the same), embeds the public metadata sections the IC serves through
//! `read_state` (`candid:service` from the .did file, `git_commit`, `version`), and writes
//! `<name>.wasm` and its deterministic gzip `<name>.wasm.gz` (no name, no time stamp).
//!
//! ```text
//! emc-wasm-tools sums <dir> <name>...
//! ```
//!
//! writes `<dir>/SHA256SUMS` (`sha256sum` format) over `<name>.wasm` and `<name>.wasm.gz` of
//! each named canister that has them (other modules in `dir`, e.g. the benchmark's, are not
//! release artifacts).

use anyhow::{bail, Context, Result};
use emc_wasm_tools::{gzip, release_module, sha256_hex, Metadata};
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("canister") => canister(&args[1..]),
        Some("sums") => match &args[1..] {
            [dir, names @ ..] => sums(Path::new(dir), names),
            _ => bail!("usage: emc-wasm-tools sums <dir> <name>..."),
        },
        _ => bail!(
            "usage: emc-wasm-tools canister --raw <raw.wasm> --out <name.wasm> \
             [--candid <name.did>] [--git-commit <rev>] | emc-wasm-tools sums <dir> <name>..."
        ),
    }
}

fn canister(args: &[String]) -> Result<()> {
    let (mut raw, mut out, mut candid, mut git_commit) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--raw" => raw = Some(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            "--candid" => candid = Some(PathBuf::from(value)),
            "--git-commit" => git_commit = Some(value),
            other => bail!("unknown argument {other}"),
        }
    }
    let raw = raw.context("--raw is required")?;
    let out = out.context("--out is required")?;
    let input = std::fs::read(&raw).with_context(|| format!("reading {}", raw.display()))?;
    let candid_service = match &candid {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let metadata = Metadata {
        candid_service,
        git_commit,
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
    };
    let module = release_module(&input, &metadata)?;
    let gz = gzip(&module)?;
    let gz_path = PathBuf::from(format!("{}.gz", out.display()));
    write_atomic(&out, &module)?;
    write_atomic(&gz_path, &gz)?;
    eprintln!(
        "build-canisters: {} ({} bytes; raw {} bytes, gzipped {} bytes)",
        out.display(),
        module.len(),
        input.len(),
        gz.len()
    );
    Ok(())
}

fn sums(dir: &Path, names: &[String]) -> Result<()> {
    let mut files: Vec<String> = names
        .iter()
        .flat_map(|n| [format!("{n}.wasm"), format!("{n}.wasm.gz")])
        .filter(|f| dir.join(f).is_file())
        .collect();
    files.sort();
    files.dedup();
    let mut text = String::new();
    for file in files {
        let bytes = std::fs::read(dir.join(&file)).with_context(|| format!("reading {file}"))?;
        text.push_str(&format!("{}  {file}\n", sha256_hex(&bytes)));
    }
    write_atomic(&dir.join("SHA256SUMS"), text.as_bytes())
}

/// Writes through a temporary file and a rename, so a reader never sees half a module.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}
