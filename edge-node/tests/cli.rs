//! The `edge-node` binary: `init` writes a key and a config that load back; bad input is a
//! clear error with a non-zero exit, never a panic.

use emc_node_common::config::{load_key, NodeConfig};
use emc_types::Role as NodeRole;
use std::process::Command;

fn edge_node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edge-node"))
}

#[test]
fn init_writes_a_key_and_a_config_that_load_back() {
    let dir = std::env::temp_dir().join(format!("emc-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ids = [
        "--ledger",
        "rwlgt-iiaaa-aaaaa-aaaaa-cai",
        "--registry",
        "rrkah-fqaaa-aaaaa-aaaaq-cai",
        "--epochs",
        "ryjl3-tyaaa-aaaaa-aaaba-cai",
    ];
    let out = edge_node()
        .args([
            "init",
            "--role",
            "compute",
            "--listen",
            "127.0.0.1:7411",
            "--dir",
        ])
        .arg(&dir)
        .args(ids)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cfg = NodeConfig::load(&dir.join("node.toml")).unwrap();
    assert_eq!(cfg.role, NodeRole::Compute);
    assert_eq!(cfg.net.listen_addr.port(), 7411);
    let key = load_key(&cfg.key_file).unwrap();
    assert!(
        stdout.contains(&hex::encode(key.verifying_key().to_bytes())),
        "{stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("node.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the node key is private to its owner");
    }

    // A second init never overwrites the key.
    let again = edge_node()
        .args(["init", "--role", "validator", "--dir"])
        .arg(&dir)
        .args(ids)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    assert_eq!(load_key(&cfg.key_file).unwrap().to_bytes(), key.to_bytes());

    // A broken config is refused with its path and reason.
    std::fs::write(dir.join("bad.toml"), "role = \"painter\"\n").unwrap();
    let bad = edge_node()
        .args(["status", "-c"])
        .arg(dir.join("bad.toml"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("bad.toml") && !err.contains("panicked"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
