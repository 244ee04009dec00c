//! A naive reference for the cost model: add 1 to a global before every original operator.
//!
//! Code placed before an operator runs exactly when control reaches that operator by falling
//! through, and branches land after `end`/`loop`, so the global ends up holding the number of
//! operators reached: the cost model of the crate docs. Function and global indices do not move
//! (one global is appended), so nothing else needs rewriting.

use wasm_encoder::reencode::{utils, Error, Reencode};
use wasm_encoder::{ConstExpr, ExportKind, GlobalType, ValType};

pub const ORACLE_EXPORT: &str = "__oracle_count";

struct Oracle<'a> {
    wasm: &'a [u8],
    global: u32,
    added_global: bool,
    added_export: bool,
}

impl Reencode for Oracle<'_> {
    type Error = std::convert::Infallible;

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), Error<Self::Error>> {
        utils::parse_global_section(self, globals, section)?;
        globals.global(
            GlobalType {
                val_type: ValType::I64,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i64_const(0),
        );
        self.added_global = true;
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), Error<Self::Error>> {
        utils::parse_export_section(self, exports, section)?;
        exports.export(ORACLE_EXPORT, ExportKind::Global, self.global);
        self.added_export = true;
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), Error<Self::Error>> {
        let mut f = self.new_function_with_parsed_locals(&func)?;
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let start = reader.original_position();
            reader.read()?;
            let end = reader.original_position();
            f.instructions()
                .global_get(self.global)
                .i64_const(1)
                .i64_add()
                .global_set(self.global);
            f.raw(self.wasm[start..end].iter().copied());
        }
        code.function(&f);
        Ok(())
    }
}

/// The module with the counting global exported as [`ORACLE_EXPORT`]. The module must have a
/// global section and an export section, and its code must not call functions by index in a
/// way that changes (it does not: no index moves).
pub fn count_every_operator(wasm: &[u8]) -> Vec<u8> {
    let mut globals = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            wasmparser::Payload::ImportSection(r) => {
                for i in r {
                    if matches!(i.unwrap().ty, wasmparser::TypeRef::Global(_)) {
                        globals += 1;
                    }
                }
            }
            wasmparser::Payload::GlobalSection(r) => globals += r.count(),
            _ => {}
        }
    }
    let mut oracle = Oracle {
        wasm,
        global: globals,
        added_global: false,
        added_export: false,
    };
    let mut module = wasm_encoder::Module::new();
    oracle
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .unwrap();
    assert!(
        oracle.added_global && oracle.added_export,
        "needs global and export sections"
    );
    module.finish()
}
