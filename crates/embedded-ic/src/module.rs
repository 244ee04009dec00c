//! What `install_code` does with the module bytes before instrumenting them, as the IC does:
//! a gzipped module is decompressed (with a cap on the decompressed size, against gzip bombs),
//! and the `icp:public <name>` / `icp:private <name>` custom sections are validated and kept as
//! the canister's metadata (served by `read_state` at `/canister/<id>/metadata/<name>`: public
//! sections to anyone, private ones to controllers only).
//!
//! The rules follow the replica's `validate_custom_section`: a custom section whose name starts
//! with `icp:` must be `icp:public <name>` or `icp:private <name>`, names are unique across
//! both visibilities, at most 16 such sections, together at most 1 MiB (names included).
//! Other custom sections are ignored.

use crate::types::IcError;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;

/// The first bytes of a gzip stream (magic number and the deflate method), as the IC tests them.
pub const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// At most this many `icp:` custom sections (the IC's limit).
pub const MAX_METADATA_SECTIONS: usize = 16;

/// At most this many bytes of `icp:` custom sections, names and contents (the IC's limit).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// Whether a metadata section is readable by anyone or by the canister's controllers only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

/// One `icp:` custom section of an installed module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataSection {
    pub visibility: Visibility,
    pub content: Vec<u8>,
}

/// The raw wasm of `module`: the bytes themselves, or, when they start with the gzip magic, the
/// decompressed stream, refused when it would exceed `max_bytes`.
pub fn decode_module(module: &[u8], max_bytes: usize) -> Result<Cow<'_, [u8]>, IcError> {
    if !module.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(module));
    }
    let mut out = Vec::new();
    // Read one byte past the cap: if it arrives, the module is too large.
    let limit = (max_bytes as u64).saturating_add(1);
    flate2::read::GzDecoder::new(module)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| IcError::InvalidWasm(format!("cannot decompress the gzipped module: {e}")))?;
    if out.len() > max_bytes {
        return Err(IcError::InvalidWasm(format!(
            "the gzipped module decompresses to more than {max_bytes} bytes"
        )));
    }
    Ok(Cow::Owned(out))
}

/// The `icp:` custom sections of a raw wasm module by name (without the `icp:public ` /
/// `icp:private ` prefix), validated as the IC validates them.
pub fn metadata_sections(wasm: &[u8]) -> Result<BTreeMap<String, MetadataSection>, IcError> {
    let invalid = |m: String| IcError::InvalidWasm(format!("invalid custom section: {m}"));
    let mut sections = BTreeMap::new();
    let mut total = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| IcError::InvalidWasm(e.to_string()))?;
        let wasmparser::Payload::CustomSection(reader) = payload else {
            continue;
        };
        let full = reader.name();
        if !full.starts_with("icp:") {
            continue;
        }
        let (name, visibility) = if let Some(n) = full.strip_prefix("icp:public ") {
            (n, Visibility::Public)
        } else if let Some(n) = full.strip_prefix("icp:private ") {
            (n, Visibility::Private)
        } else {
            return Err(invalid(format!(
                "'{full}' has no public/private scope ('icp:public <name>' or 'icp:private <name>')"
            )));
        };
        if sections.contains_key(name) {
            return Err(invalid(format!("name '{name}' already exists")));
        }
        total = total.saturating_add(name.len() + reader.data().len());
        if total > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "the icp: custom sections exceed {MAX_METADATA_BYTES} bytes"
            )));
        }
        sections.insert(
            name.to_string(),
            MetadataSection {
                visibility,
                content: reader.data().to_vec(),
            },
        );
        if sections.len() > MAX_METADATA_SECTIONS {
            return Err(invalid(format!(
                "more than {MAX_METADATA_SECTIONS} icp: custom sections"
            )));
        }
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// A module with one custom section per (name, data).
    fn module(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        for (name, data) in sections {
            let mut body = Vec::new();
            leb(&mut body, name.len());
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(data);
            m.push(0);
            leb(&mut m, body.len());
            m.extend(body);
        }
        m
    }

    fn leb(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn plain_modules_pass_through_and_gzipped_ones_are_decompressed() {
        let m = module(&[]);
        assert!(matches!(decode_module(&m, 100).unwrap(), Cow::Borrowed(_)));
        assert_eq!(decode_module(&gzip(&m), 100).unwrap().as_ref(), &m[..]);
    }

    #[test]
    fn a_gzip_bomb_is_refused_at_the_cap() {
        let big = vec![0u8; 10 * 1024 * 1024];
        let gz = gzip(&big);
        assert!(gz.len() < 20_000, "{}", gz.len());
        let err = decode_module(&gz, 1024 * 1024).unwrap_err();
        assert!(err.to_string().contains("more than 1048576 bytes"), "{err}");
        // Exactly at the cap is fine.
        assert_eq!(decode_module(&gz, big.len()).unwrap().len(), big.len());
    }

    #[test]
    fn a_corrupt_gzip_stream_is_an_invalid_module() {
        let mut gz = gzip(&module(&[]));
        let n = gz.len();
        gz.truncate(n - 6);
        assert!(matches!(
            decode_module(&gz, 100),
            Err(IcError::InvalidWasm(_))
        ));
    }

    #[test]
    fn icp_sections_are_read_with_their_visibility() {
        let m = module(&[
            ("name", b"ignored"),
            ("icp:public candid:service", b"service : {}"),
            ("icp:private secret", b"s"),
        ]);
        let s = metadata_sections(&m).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s["candid:service"].visibility, Visibility::Public);
        assert_eq!(s["candid:service"].content, b"service : {}");
        assert_eq!(s["secret"].visibility, Visibility::Private);
    }

    #[test]
    fn invalid_icp_sections_are_refused_as_the_ic_refuses_them() {
        for bad in [
            module(&[("icp:dummy x", b"")]),
            module(&[("icp:public", b"")]),
            module(&[("icp:public a", b"1"), ("icp:private a", b"2")]),
            module(&[("icp:public big", &vec![0u8; MAX_METADATA_BYTES])]),
        ] {
            assert!(
                matches!(metadata_sections(&bad), Err(IcError::InvalidWasm(_))),
                "{bad:?}"
            );
        }
        let names: Vec<String> = (0..=MAX_METADATA_SECTIONS)
            .map(|i| format!("icp:public s{i}"))
            .collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert!(metadata_sections(&module(&many[..MAX_METADATA_SECTIONS])).is_ok());
        assert!(metadata_sections(&module(&many)).is_err());
    }
}
