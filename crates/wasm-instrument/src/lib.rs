//! The wasm rewriting pass of the embedded IC: IC-style instruction counting and dirty-page
//! tracking for canister modules.
//!
//! [`instrument`] takes a canister module (as built by ic-cdk for `wasm32-unknown-unknown`) and
//! returns an equivalent module that (1) counts the instructions it executes in an exported
//! global and calls the host when the count runs out, and (2) tells the host which 4 KiB pages of
//! its heap it is about to write, so that a message that traps can be rolled back at a cost
//! proportional to the pages it wrote. The pass is pure: no IO, no clock, deterministic output
//! for a given input, and it never panics on any input bytes.
//!
//! # What the instrumented module looks like
//!
//! * **Imports.** Three function imports are appended after the module's own imports, in module
//!   [`IMPORT_MODULE`] (`__emc`), always all three (even without memory) and always in this
//!   order: [`IMPORT_OUT_OF_INSTRUCTIONS`] `() -> ()`, [`IMPORT_DIRTY_PAGE`] `(page: i32) -> ()`
//!   and [`IMPORT_DIRTY_RANGE`] `(dst: i32, len: i32) -> ()`. Every defined function therefore
//!   moves up by 3 and every function index is remapped: `call`, `return_call`, `ref.func`,
//!   exports, the start function, element segments and constant expressions. Imported functions
//!   keep their indices.
//! * **Counter.** A new mutable `i64` global, appended after all other globals (so no global
//!   index moves), exported as [`EXPORT_COUNTER`]. It holds the instructions left. Its initial
//!   value is [`START_INSTRUCTION_LIMIT`], the budget of the start function, if any, which runs
//!   during instantiation; the host sets it before every message and reads it back afterwards.
//! * **Dirty map.** If the module has a memory, a second memory (index 1) of exactly
//!   [`DIRTY_MAP_BYTES`] (16 wasm pages, `min = max`), exported as [`EXPORT_DIRTY_MAP`], and the
//!   module's memory 0 is also exported as [`EXPORT_MEMORY`]. A module without memory gets
//!   neither (there is nothing to track), and [`Instrumented::has_memory`] is `false`.
//! * **Globals.** Every mutable global the module defines is also exported as
//!   [`EXPORT_GLOBAL_PREFIX`]`<index>` (index in the global index space, which includes imported
//!   globals); [`Instrumented::globals`] lists these names so the host can snapshot and restore
//!   them. Immutable globals cannot change and are not exported.
//! * **Helper.** If the module has a memory and defines functions, one function is appended
//!   after the module's own functions (no index moves): `mark_pages(first, last)`, the slow path
//!   of the store check. It is not exported.
//! * **Custom sections** are kept byte for byte and in place, except `name`, which is dropped (it
//!   refers to function indices that no longer hold).
//!
//! # Cost model
//!
//! Each operator of the original function bodies costs 1 when control reaches it; the
//! instrumentation's own code costs nothing. `block`, `loop`, `if`, `else`, `end`, `nop`, `drop`,
//! `br`, `call` ... all count 1 each, including a function's final `end`. Control reaches an
//! operator by falling through from the previous one or by jumping to it, and a jump skips the
//! operators it passes over:
//!
//! * a branch (`br`, a taken `br_if`, `br_table`) to a `block` or `if` label, the jump from the end
//!   of an `if`'s then-branch over its else-branch, and an `if` whose condition is 0 and that has
//!   no `else` all continue *after* the matching `end`, which is not charged;
//! * an `if` whose condition is 0 continues after its `else`, which is not charged;
//! * a branch to a `loop` label continues after the `loop` operator, which is not charged again;
//! * `return` and the tail calls leave the function without charging its final `end`;
//! * a `call` costs 1 in the caller; the callee charges its own operators, and a host function
//!   charges whatever the host decides (it subtracts from the counter directly).
//!
//! Bulk memory operations cost 1 here; the host adds `len` in `dirty_range` (see below).
//! For example `(func (param i32) (loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0))`
//! called with `n >= 1` costs `1 + 5n + 2`: the `loop`, five operators per iteration, then the
//! loop's `end` and the function's `end`.
//!
//! **How it is charged.** The code is cut into straight-line runs: a run starts at function
//! entry, after `loop`, `if`, `else`, `br_if`, `call` and `call_indirect`, after an `end` that a
//! branch or an `if` can jump to, and at nothing else (after `block`, and after the `end` of a
//! `loop` or of a `block` that no branch targets, the run simply continues since control can only
//! fall through). Unreachable code (after `br`, `br_table`, `return`, `unreachable`, tail calls)
//! is not charged at all, since it never runs. At the start of each run the instrumented code
//! subtracts the run's full cost from the counter (`global.get; i64.const cost; i64.sub;
//! global.set`). At function entry and at every loop header it then checks the counter and calls
//! `out_of_instructions` if it is negative; the host traps there. Consequences for the host:
//!
//! * charges are taken when a run is entered, so a run cut short by a trap has been charged in
//!   full: counts are exact for code that does not trap;
//! * between two checks the counter may go below zero without a call to `out_of_instructions`
//!   (by at most the cost of straight-line code with no loop header or function entry in
//!   between), so **after a message the host must treat a negative counter as "out of
//!   instructions"**, like the IC does;
//! * [`Instrumented::instruction_count`] is the static number of operators in all bodies.
//!
//! # Dirty-map contract
//!
//! Memory 1 holds one byte per 4 KiB page ([`PAGE_SIZE_LOG2`]) of memory 0: 0 means clean, 1
//! means the host already saved the page for this message. Before every store to memory 0
//! (`i32/i64/f32/f64.store` and the narrow stores) the instrumented code computes the page of
//! the first and of the last byte written, `(addr + offset [+ size - 1]) >> 12` with i32 wrapping
//! arithmetic, and if either map byte is 0 it calls the helper, which calls `dirty_page(page)`
//! for each page (one or two) whose byte is 0. The host then must save the page's current
//! content and set its map byte to 1 (writing exactly 1; any other nonzero value is still
//! correct but slower). Pages are always below 2^20, so the map loads never trap; a page may lie
//! beyond the current memory size (the store will trap right after): the host must accept it.
//! Before `memory.copy`, `memory.fill` and `memory.init` the code calls `dirty_range(dst, len)`
//! with the destination range, unconditionally; the host saves the pages of
//! `dst..dst + len` that are not yet in the map (and marks them), and charges `len`
//! instructions. `dst + len` may exceed the memory size (the operation will trap). `memory.grow`
//! needs nothing: the host compares sizes before and after. After a message commits, the host
//! clears the bytes it set (it knows which); after a trap, it restores the saved pages, the
//! memory size, the globals, and clears the bytes. Stores made by a start function during
//! instantiation call `dirty_page` too; data segments are applied without calls.
//!
//! # Refusals
//!
//! [`instrument`] validates the input with wasmparser first and returns an [`InstrumentError`]
//! (never panics) for: invalid wasm (including the GC, exception-handling, component-model and
//! other proposals not listed below), memory64 (64-bit memories and tables), shared memory,
//! custom page sizes, imported memories, more than one memory, the import module `__emc` or an
//! export whose name starts with `__emc_` (reserved), and instructions whose effects the host
//! cannot roll back: `table.set`, `table.grow`, `table.fill`, `table.copy`, `table.init`,
//! `elem.drop`, `data.drop`, all atomics (threads) and all SIMD, even in unreachable code, and
//! the SIMD type v128 anywhere else (a signature, a local, a global).
//! `memory.init` is supported (data segments cannot be dropped, so they never change).
//! Accepted proposals: MVP, mutable globals, sign extension, saturating float-to-int,
//! multi-value, bulk memory (minus the refused operators), reference types (`ref.null`,
//! `ref.is_null`, `ref.func`, `table.get`, `table.size`, typed `select`), tail calls and extended
//! constant expressions. Custom sections that encode code offsets or function indices (DWARF
//! `.debug_*`, branch hints) are kept byte for byte as well, so they no longer match the code.
//!
//! # Running the output with wasmi
//!
//! The output uses multi-memory (memory 1) besides whatever the input used. wasmi 2's
//! `Config::default()` enables everything needed (mutable globals, multi-value, multi-memory,
//! sign extension, saturating float-to-int, bulk memory, reference types, tail calls, extended
//! const); do not turn off `wasm_multi_memory`, `wasm_bulk_memory` or `wasm_reference_types`.
//! Build wasmi with its `validate` feature (on by default) so that modules are validated, and
//! with `portable-dispatch` (as the workspace does): the default tail-call dispatch overflows the
//! native stack on long loops in dev-profile builds. The pass does not re-validate its output;
//! its tests do (wasmparser and wasmi), including on randomly mutated inputs.
//!
//! # Cost of the instrumentation
//!
//! A function entry or loop header adds 9 instructions (charge and check), any other run 4, a
//! store about 20 (two map-byte loads and a branch on the fast path; a call only on a page's
//! first write in a message), a bulk operation 8 and a host call. On a sort-heavy Rust function
//! interpreted by wasmi, counting alone made execution about 1.1 times slower and counting plus
//! store tracking 2.5 to 3 times slower; the code section grew 2.5 times. (Caching the last dirty
//! page in a local, to skip the map loads, was tried and was slower: the cache misses too often
//! when stack and heap stores alternate.) The pass itself takes a few milliseconds for a typical
//! canister.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod body;
mod ops;

use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, DataCountSection, DataSection, ElementSection,
    EntityType, ExportKind, ExportSection, FunctionSection, GlobalSection, GlobalType,
    ImportSection, MemorySection, MemoryType, Module, StartSection, TableSection, TypeSection,
    ValType,
};
use wasmparser::{CompositeInnerType, Parser, Payload, TypeRef, Validator, WasmFeatures};

/// Dirty-tracking granularity: 4 KiB pages.
pub const PAGE_SIZE_LOG2: u32 = 12;
/// Size of the dirty map (memory 1): one byte per 4 KiB page of a 4 GiB memory.
pub const DIRTY_MAP_BYTES: u32 = 1 << 20;
/// Module name of the three imports the instrumentation adds.
pub const IMPORT_MODULE: &str = "__emc";
/// `() -> ()`: called when the counter is negative at a function entry or loop header; the host
/// traps.
pub const IMPORT_OUT_OF_INSTRUCTIONS: &str = "out_of_instructions";
/// `(page: i32) -> ()`: page `page` of memory 0 is about to be written for the first time in
/// this message (its map byte is 0); the host saves it and sets the map byte to 1.
pub const IMPORT_DIRTY_PAGE: &str = "dirty_page";
/// `(dst: i32, len: i32) -> ()`: bytes `dst..dst+len` of memory 0 are about to be written by a
/// bulk operation; the host saves the pages not yet saved, marks them, and charges `len`.
pub const IMPORT_DIRTY_RANGE: &str = "dirty_range";
/// The exported mutable i64 global holding the instructions left.
pub const EXPORT_COUNTER: &str = "__emc_instructions_left";
/// The exported dirty map (memory 1), present iff the module has a memory.
pub const EXPORT_DIRTY_MAP: &str = "__emc_dirty_map";
/// The module's memory 0, exported under this name in addition to its own exports.
pub const EXPORT_MEMORY: &str = "__emc_memory";
/// Table 0, exported so the host can call the closures canisters register by table index
/// (`ic0.call_new`'s reply/reject callbacks, `ic0.call_on_cleanup`). Present iff the module has
/// a table.
pub const EXPORT_TABLE: &str = "__emc_table";
/// Prefix of the exports of the module's mutable globals, followed by the global's index.
pub const EXPORT_GLOBAL_PREFIX: &str = "__emc_global_";
/// Initial value of the counter: the budget of the module's start function, which runs during
/// instantiation before the host can set the counter (5 billion; canisters built by ic-cdk have
/// no start function).
pub const START_INSTRUCTION_LIMIT: i64 = 5_000_000_000;

/// The implementation limits wasmparser (and so wasmi) enforces, which the output must respect
/// (wasmparser does not export them).
mod limits {
    pub const FUNCTIONS: u64 = 1_000_000;
    pub const TYPES: u64 = 1_000_000;
    pub const GLOBALS: u64 = 1_000_000;
    pub const EXPORTS: u64 = 1_000_000;
    pub const LOCALS: u64 = 50_000;
}

/// Number of function imports the instrumentation adds.
const ADDED_IMPORTS: u32 = 3;

/// The instrumented module and what the host needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrumented {
    /// The instrumented module.
    pub wasm: Vec<u8>,
    /// Export names of all mutable globals the module defines (`__emc_global_<index>`), in index
    /// order. The instrumentation's counter is not included.
    pub globals: Vec<String>,
    /// Whether the module has a memory (and therefore the dirty map and `__emc_memory`).
    pub has_memory: bool,
    /// Number of functions the input module defines (the instrumented bodies; the helper is not
    /// counted).
    pub function_count: u32,
    /// Static number of operators in the input's function bodies.
    pub instruction_count: u64,
}

/// Why a module cannot be instrumented.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstrumentError {
    /// The input is not a valid wasm module for the accepted feature set.
    #[error("invalid wasm module: {0}")]
    Invalid(String),
    /// The module uses a 64-bit memory or table (the memory64 proposal).
    #[error("memory64 (64-bit memories and tables) is not supported")]
    Memory64,
    /// The module declares a shared memory.
    #[error("shared memory is not supported")]
    SharedMemory,
    /// The module declares a memory with a non-default page size.
    #[error("custom page sizes are not supported")]
    CustomPageSize,
    /// The module imports its memory.
    #[error("imported memories are not supported: the canister must define its own memory")]
    ImportedMemory,
    /// The module defines more than one memory.
    #[error("the module has {0} memories, at most one is supported")]
    TooManyMemories(u64),
    /// The module uses a name reserved for the instrumentation.
    #[error("`{0}` is reserved for the instrumentation")]
    ReservedName(String),
    /// The module contains an instruction whose effects the host cannot roll back.
    #[error("unsupported instruction `{instruction}` in function {function} at offset {offset}: {reason}")]
    UnsupportedInstruction {
        /// The instruction, e.g. `table_set`.
        instruction: &'static str,
        /// Index of the function in the input's function index space.
        function: u32,
        /// Byte offset of the instruction in the input.
        offset: usize,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The module uses the v128 type (SIMD) in a signature, a local or a global.
    #[error("SIMD (the v128 type) is not supported")]
    Simd,
    /// Adding the instrumentation would exceed a wasm implementation limit.
    #[error("too many {0} after instrumentation")]
    LimitExceeded(&'static str),
    /// Re-encoding a section failed.
    #[error("re-encoding failed: {0}")]
    Encode(String),
}

impl From<wasmparser::BinaryReaderError> for InstrumentError {
    fn from(err: wasmparser::BinaryReaderError) -> Self {
        InstrumentError::Invalid(err.to_string())
    }
}

fn encode_error(err: reencode::Error) -> InstrumentError {
    match err {
        reencode::Error::ParseError(e) => InstrumentError::Invalid(e.to_string()),
        other => InstrumentError::Encode(other.to_string()),
    }
}

/// The wasm features accepted by validation. Some of them (threads, SIMD, memory64, custom page
/// sizes) are accepted only to be refused afterwards with a specific error.
fn features() -> WasmFeatures {
    WasmFeatures::WASM2
        | WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::THREADS
        | WasmFeatures::SIMD
        | WasmFeatures::RELAXED_SIMD
        | WasmFeatures::MEMORY64
        | WasmFeatures::CUSTOM_PAGE_SIZES
}

/// Function index remapping: defined functions move up by [`ADDED_IMPORTS`].
pub(crate) struct Remap {
    imported_funcs: u32,
}

impl Reencode for Remap {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> u32 {
        if func < self.imported_funcs {
            func
        } else {
            func.saturating_add(ADDED_IMPORTS)
        }
    }
}

/// What the pass needs to know about the input before rewriting it.
#[derive(Default)]
struct ModuleInfo {
    type_count: u32,
    /// Parameter count of each type (0 for non-function types).
    type_params: Vec<u32>,
    imported_funcs: u32,
    imported_globals: u32,
    /// Type index of each defined function.
    func_types: Vec<u32>,
    /// Mutability of each defined global.
    globals_mutable: Vec<bool>,
    has_memory: bool,
    /// Whether the module has a table 0 (imported or defined).
    has_table: bool,
    export_count: u64,
}

fn scan(wasm: &[u8]) -> Result<ModuleInfo, InstrumentError> {
    let mut info = ModuleInfo::default();
    let mut memories = 0u64;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        let params = match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        };
                        info.type_params.push(params);
                        info.type_count = info.type_count.saturating_add(1);
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import?;
                    if import.module == IMPORT_MODULE {
                        return Err(InstrumentError::ReservedName(format!(
                            "import module {IMPORT_MODULE}"
                        )));
                    }
                    match import.ty {
                        TypeRef::Func(_) => info.imported_funcs += 1,
                        TypeRef::Global(_) => info.imported_globals += 1,
                        TypeRef::Memory(m) => {
                            check_memory(&m)?;
                            return Err(InstrumentError::ImportedMemory);
                        }
                        TypeRef::Table(t) if t.table64 => return Err(InstrumentError::Memory64),
                        TypeRef::Table(_) => info.has_table = true,
                        TypeRef::Tag(_) => {}
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    info.func_types.push(ty?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    if table?.ty.table64 {
                        return Err(InstrumentError::Memory64);
                    }
                    info.has_table = true;
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    check_memory(&memory?)?;
                    memories += 1;
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    info.globals_mutable.push(global?.ty.mutable);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.name.starts_with("__emc_") {
                        return Err(InstrumentError::ReservedName(format!(
                            "export name {}",
                            export.name
                        )));
                    }
                    info.export_count += 1;
                }
            }
            // Nothing after this point matters for the scan.
            Payload::CodeSectionStart { .. } | Payload::DataSection(_) | Payload::End(_) => break,
            _ => {}
        }
    }
    if memories > 1 {
        return Err(InstrumentError::TooManyMemories(memories));
    }
    info.has_memory = memories == 1;
    Ok(info)
}

fn check_memory(m: &wasmparser::MemoryType) -> Result<(), InstrumentError> {
    if m.memory64 {
        return Err(InstrumentError::Memory64);
    }
    if m.shared {
        return Err(InstrumentError::SharedMemory);
    }
    if m.page_size_log2.is_some_and(|p| p != 16) {
        return Err(InstrumentError::CustomPageSize);
    }
    Ok(())
}

/// Position of a section in the module's canonical order, to insert missing sections in place.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Type,
    Import,
    Function,
    Table,
    Memory,
    Global,
    Export,
    Start,
    Element,
    DataCount,
    Code,
    Data,
    End,
}

struct Emitter<'a> {
    wasm: &'a [u8],
    info: &'a ModuleInfo,
    remap: Remap,
    env: body::Env,
    module: Module,
    /// Type indices of the added function types.
    ty_void: u32,
    ty_i32: u32,
    ty_i32_i32: u32,
    emitted_types: bool,
    emitted_imports: bool,
    emitted_globals: bool,
    emitted_exports: bool,
    code: Option<CodeSection>,
    next_func: u32,
    instruction_count: u64,
    globals: Vec<String>,
}

/// Instruments a canister module; see the crate documentation for what the output does.
pub fn instrument(wasm: &[u8]) -> Result<Instrumented, InstrumentError> {
    Validator::new_with_features(features())
        .validate_all(wasm)
        .map_err(|e| InstrumentError::Invalid(e.to_string()))?;
    let info = scan(wasm)?;

    let defined_funcs = info.func_types.len() as u64;
    let total_funcs = u64::from(info.imported_funcs) + defined_funcs + u64::from(ADDED_IMPORTS) + 1;
    if total_funcs > limits::FUNCTIONS {
        return Err(InstrumentError::LimitExceeded("functions"));
    }
    if u64::from(info.type_count) + 3 > limits::TYPES {
        return Err(InstrumentError::LimitExceeded("types"));
    }
    let total_globals = u64::from(info.imported_globals) + info.globals_mutable.len() as u64;
    if total_globals + 1 > limits::GLOBALS {
        return Err(InstrumentError::LimitExceeded("globals"));
    }
    let added_exports = 4 + info.globals_mutable.iter().filter(|m| **m).count() as u64;
    if info.export_count + added_exports > limits::EXPORTS {
        return Err(InstrumentError::LimitExceeded("exports"));
    }
    // All fit in u32 now.
    let imported_funcs = info.imported_funcs;
    let env = body::Env {
        counter_global: total_globals as u32,
        fn_out_of_instructions: imported_funcs,
        fn_dirty_page: imported_funcs + 1,
        fn_dirty_range: imported_funcs + 2,
        fn_mark_pages: (info.has_memory && defined_funcs > 0)
            .then_some(imported_funcs + ADDED_IMPORTS + defined_funcs as u32),
    };
    let globals = info
        .globals_mutable
        .iter()
        .enumerate()
        .filter(|(_, m)| **m)
        .map(|(i, _)| {
            format!(
                "{EXPORT_GLOBAL_PREFIX}{}",
                u64::from(info.imported_globals) + i as u64
            )
        })
        .collect();
    let mut emitter = Emitter {
        wasm,
        info: &info,
        remap: Remap { imported_funcs },
        env,
        module: Module::new(),
        ty_void: info.type_count,
        ty_i32: info.type_count + 1,
        ty_i32_i32: info.type_count + 2,
        emitted_types: false,
        emitted_imports: false,
        emitted_globals: false,
        emitted_exports: false,
        code: None,
        next_func: imported_funcs,
        instruction_count: 0,
        globals,
    };
    emitter.run()?;
    // SIMD instructions were refused above (SIMD is on in `features` so that they get their
    // own refusal); the v128 type outside instructions (a signature, a local, a global) is
    // refused here, as wasmi (built without SIMD) would refuse the output.
    Validator::new_with_features(features() - WasmFeatures::SIMD - WasmFeatures::RELAXED_SIMD)
        .validate_all(wasm)
        .map_err(|_| InstrumentError::Simd)?;
    Ok(Instrumented {
        wasm: emitter.module.finish(),
        globals: emitter.globals,
        has_memory: info.has_memory,
        function_count: info.func_types.len() as u32,
        instruction_count: emitter.instruction_count,
    })
}

impl Emitter<'_> {
    fn run(&mut self) -> Result<(), InstrumentError> {
        let wasm = self.wasm;
        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload?;
            if !matches!(payload, Payload::CodeSectionEntry(_)) {
                self.finish_code();
            }
            match payload {
                Payload::Version { .. } => {}
                Payload::TypeSection(reader) => {
                    self.before(Rank::Type);
                    let mut types = TypeSection::new();
                    self.remap
                        .parse_type_section(&mut types, reader)
                        .map_err(encode_error)?;
                    self.add_types(&mut types);
                    self.module.section(&types);
                    self.emitted_types = true;
                }
                Payload::ImportSection(reader) => {
                    self.before(Rank::Import);
                    let mut imports = ImportSection::new();
                    self.remap
                        .parse_import_section(&mut imports, reader)
                        .map_err(encode_error)?;
                    self.add_imports(&mut imports);
                    self.module.section(&imports);
                    self.emitted_imports = true;
                }
                Payload::FunctionSection(reader) => {
                    self.before(Rank::Function);
                    let mut functions = FunctionSection::new();
                    self.remap
                        .parse_function_section(&mut functions, reader)
                        .map_err(encode_error)?;
                    if self.env.fn_mark_pages.is_some() {
                        functions.function(self.ty_i32_i32);
                    }
                    self.module.section(&functions);
                }
                Payload::TableSection(reader) => {
                    self.before(Rank::Table);
                    let mut tables = TableSection::new();
                    self.remap
                        .parse_table_section(&mut tables, reader)
                        .map_err(encode_error)?;
                    self.module.section(&tables);
                }
                Payload::MemorySection(reader) => {
                    self.before(Rank::Memory);
                    let mut memories = MemorySection::new();
                    self.remap
                        .parse_memory_section(&mut memories, reader)
                        .map_err(encode_error)?;
                    if self.info.has_memory {
                        memories.memory(dirty_map_type());
                    }
                    self.module.section(&memories);
                }
                Payload::TagSection(_) => {
                    return Err(InstrumentError::Invalid(
                        "exception handling is not supported".to_string(),
                    ));
                }
                Payload::GlobalSection(reader) => {
                    self.before(Rank::Global);
                    let mut globals = GlobalSection::new();
                    self.remap
                        .parse_global_section(&mut globals, reader)
                        .map_err(encode_error)?;
                    add_counter(&mut globals);
                    self.module.section(&globals);
                    self.emitted_globals = true;
                }
                Payload::ExportSection(reader) => {
                    self.before(Rank::Export);
                    let mut exports = ExportSection::new();
                    self.remap
                        .parse_export_section(&mut exports, reader)
                        .map_err(encode_error)?;
                    self.add_exports(&mut exports);
                    self.module.section(&exports);
                    self.emitted_exports = true;
                }
                Payload::StartSection { func, .. } => {
                    self.before(Rank::Start);
                    let function_index = self.remap.start_section(func);
                    self.module.section(&StartSection { function_index });
                }
                Payload::ElementSection(reader) => {
                    self.before(Rank::Element);
                    let mut elements = ElementSection::new();
                    self.remap
                        .parse_element_section(&mut elements, reader)
                        .map_err(encode_error)?;
                    self.module.section(&elements);
                }
                Payload::DataCountSection { count, .. } => {
                    self.before(Rank::DataCount);
                    self.module.section(&DataCountSection { count });
                }
                Payload::CodeSectionStart { .. } => {
                    self.before(Rank::Code);
                    self.code = Some(CodeSection::new());
                }
                Payload::CodeSectionEntry(body) => self.function(&body)?,
                Payload::DataSection(reader) => {
                    self.before(Rank::Data);
                    let mut data = DataSection::new();
                    self.remap
                        .parse_data_section(&mut data, reader)
                        .map_err(encode_error)?;
                    self.module.section(&data);
                }
                Payload::CustomSection(reader) => {
                    if reader.name() != "name" {
                        self.module.section(&CustomSection {
                            name: reader.name().into(),
                            data: reader.data().into(),
                        });
                    }
                }
                Payload::End(_) => self.before(Rank::End),
                other => {
                    return Err(InstrumentError::Invalid(format!(
                        "unexpected section {:?}",
                        other.as_section().map(|(id, _)| id)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Emits the sections the instrumentation needs that the input lacks and that come before a
    /// section of rank `next`.
    fn before(&mut self, next: Rank) {
        if next > Rank::Type && !self.emitted_types {
            let mut types = TypeSection::new();
            self.add_types(&mut types);
            self.module.section(&types);
            self.emitted_types = true;
        }
        if next > Rank::Import && !self.emitted_imports {
            let mut imports = ImportSection::new();
            self.add_imports(&mut imports);
            self.module.section(&imports);
            self.emitted_imports = true;
        }
        if next > Rank::Global && !self.emitted_globals {
            let mut globals = GlobalSection::new();
            add_counter(&mut globals);
            self.module.section(&globals);
            self.emitted_globals = true;
        }
        if next > Rank::Export && !self.emitted_exports {
            let mut exports = ExportSection::new();
            self.add_exports(&mut exports);
            self.module.section(&exports);
            self.emitted_exports = true;
        }
    }

    fn add_types(&self, types: &mut TypeSection) {
        types.ty().function([], []);
        types.ty().function([ValType::I32], []);
        types.ty().function([ValType::I32, ValType::I32], []);
    }

    fn add_imports(&self, imports: &mut ImportSection) {
        let m = IMPORT_MODULE;
        imports.import(
            m,
            IMPORT_OUT_OF_INSTRUCTIONS,
            EntityType::Function(self.ty_void),
        );
        imports.import(m, IMPORT_DIRTY_PAGE, EntityType::Function(self.ty_i32));
        imports.import(m, IMPORT_DIRTY_RANGE, EntityType::Function(self.ty_i32_i32));
    }

    fn add_exports(&self, exports: &mut ExportSection) {
        exports.export(EXPORT_COUNTER, ExportKind::Global, self.env.counter_global);
        if self.info.has_memory {
            exports.export(EXPORT_MEMORY, ExportKind::Memory, 0);
            exports.export(EXPORT_DIRTY_MAP, ExportKind::Memory, 1);
        }
        if self.info.has_table {
            exports.export(EXPORT_TABLE, ExportKind::Table, 0);
        }
        for (i, mutable) in self.info.globals_mutable.iter().enumerate() {
            if *mutable {
                let index = self.info.imported_globals + i as u32;
                let name = format!("{EXPORT_GLOBAL_PREFIX}{index}");
                exports.export(&name, ExportKind::Global, index);
            }
        }
    }

    fn function(&mut self, body: &wasmparser::FunctionBody<'_>) -> Result<(), InstrumentError> {
        let func_index = self.next_func;
        self.next_func = self.next_func.saturating_add(1);
        let defined = (func_index - self.info.imported_funcs) as usize;
        let param_count = self
            .info
            .func_types
            .get(defined)
            .and_then(|ty| self.info.type_params.get(*ty as usize))
            .copied()
            .ok_or_else(|| InstrumentError::Invalid("function without a type".to_string()))?;
        let rewritten = body::rewrite(
            &self.env,
            &mut self.remap,
            self.wasm,
            body,
            param_count,
            func_index,
        )?;
        self.instruction_count += rewritten.op_count;
        let code = self
            .code
            .as_mut()
            .ok_or_else(|| InstrumentError::Invalid("code entry outside a code section".into()))?;
        code.raw(&rewritten.bytes);
        Ok(())
    }

    /// Ends the code section (if one is open) with the helper function.
    fn finish_code(&mut self) {
        if let Some(mut code) = self.code.take() {
            if self.env.fn_mark_pages.is_some() {
                code.raw(&body::mark_pages_body(self.env.fn_dirty_page));
            }
            self.module.section(&code);
        }
    }
}

fn dirty_map_type() -> MemoryType {
    let pages = u64::from(DIRTY_MAP_BYTES >> 16);
    MemoryType {
        minimum: pages,
        maximum: Some(pages),
        memory64: false,
        shared: false,
        page_size_log2: None,
    }
}

fn add_counter(globals: &mut GlobalSection) {
    globals.global(
        GlobalType {
            val_type: ValType::I64,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i64_const(START_INSTRUCTION_LIMIT),
    );
}
