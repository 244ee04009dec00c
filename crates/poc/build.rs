//! Compiles the GLSL compute shaders in `shaders/` to SPIR-V with `glslc` (Debian package
//! `glslc`, installed by scripts/install-deps.sh; `GLSLC` overrides the path).

use std::path::PathBuf;
use std::process::Command;

const SHADERS: &[&str] = &["gen", "matmul"];

fn main() {
    if std::env::var_os("CARGO_FEATURE_VULKAN").is_none() {
        return; // no Vulkan prover: no shaders to compile
    }
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-env-changed=GLSLC");
    let glslc = std::env::var("GLSLC").unwrap_or_else(|_| "glslc".to_string());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("shaders");
    for name in SHADERS {
        let src = dir.join(format!("{name}.comp"));
        let dst = out_dir.join(format!("{name}.spv"));
        let output = Command::new(&glslc)
            .arg("--target-env=vulkan1.0")
            .arg("-O")
            .arg("-Werror")
            .arg("-I")
            .arg(&dir)
            .arg("-o")
            .arg(&dst)
            .arg(&src)
            .output();
        match output {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "glslc failed on {}:\n{}{}",
                src.display(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "cannot run `{glslc}` ({e}): emc-poc compiles its Vulkan shaders with glslc; \
                 install it with scripts/install-deps.sh (Debian package `glslc`) or set GLSLC"
            ),
        }
    }
}
