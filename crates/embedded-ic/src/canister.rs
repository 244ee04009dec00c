//! One canister's execution state: the instrumented module, its wasmi store and instance, and
//! the atomic execution of a single message (commit on success, rollback on trap).
//!
//! Rollback costs what the message wrote, not the heap's size: the instrumentation
//! (`emc-wasm-instrument`) calls `dirty_page` before the first store to each 4 KiB heap page of
//! a message, and the host saves that page's old bytes in an undo log; host writes into the heap
//! (e.g. `msg_arg_data_copy`) go through the same path. Stable memory keeps an undo log of
//! writes. Globals are few and are snapshotted whole. The one case that costs the whole heap is a
//! message that grew the heap and then trapped: wasm memories cannot shrink, so the instance is
//! rebuilt from the module and the restored heap copied in.

use crate::system_api;
use crate::types::{CallResult, IcError, Reject, RejectCode};
use candid::Principal;
use emc_wasm_instrument as instr;
use std::collections::{BTreeMap, BTreeSet};
use wasmi::{Engine, Func, Global, Instance, Linker, Memory, Module, Ref, Store, Table, Val};

/// Bytes per dirty-tracking page of the heap.
pub(crate) const HEAP_PAGE: usize = 1 << instr::PAGE_SIZE_LOG2;
/// Bytes per wasm page (heap growth and stable memory both count in these).
pub(crate) const WASM_PAGE: u64 = 64 * 1024;

/// What a canister keeps outside its wasm instance; survives upgrades (the heap does not).
#[derive(Clone, Debug, Default)]
pub(crate) struct SystemState {
    pub stable: Vec<u8>,
    pub certified_data: Vec<u8>,
    pub global_timer: u64,
    pub cycles: u128,
    pub controllers: Vec<Principal>,
    /// Incremented by every successful execution and code installation.
    pub version: u64,
}

/// Which entry point runs; decides which system API functions are allowed
/// (interface specification, "Overview of imports").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiKind {
    Start,
    Init,
    PreUpgrade,
    PostUpgrade,
    Update,
    ReplicatedQuery,
    NonReplicatedQuery,
    ReplyCallback,
    RejectCallback,
    Cleanup,
    InspectMessage,
    Timer,
}

impl ApiKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ApiKind::Start => "start",
            ApiKind::Init => "init",
            ApiKind::PreUpgrade => "pre_upgrade",
            ApiKind::PostUpgrade => "post_upgrade",
            ApiKind::Update => "update",
            ApiKind::ReplicatedQuery => "replicated query",
            ApiKind::NonReplicatedQuery => "query",
            ApiKind::ReplyCallback => "reply callback",
            ApiKind::RejectCallback => "reject callback",
            ApiKind::Cleanup => "cleanup",
            ApiKind::InspectMessage => "inspect_message",
            ApiKind::Timer => "global timer",
        }
    }
}

/// A call a canister made with `call_new` … `call_perform`.
#[derive(Clone, Debug)]
pub(crate) struct OutgoingCall {
    pub callee: Principal,
    pub method: String,
    pub arg: Vec<u8>,
    pub cycles: u128,
    pub reply: (u32, u32),
    pub reject: (u32, u32),
    pub cleanup: Option<(u32, u32)>,
    pub timeout_seconds: Option<u32>,
}

/// The context of one message execution, seen by the system API.
#[derive(Debug)]
pub(crate) struct ExecCtx {
    pub kind: ApiKind,
    pub caller: Principal,
    pub method: String,
    /// Argument bytes; in a reply callback, the reply.
    pub arg: Vec<u8>,
    /// In a reject callback, the reject.
    pub reject: Option<Reject>,
    pub time: u64,
    pub deadline: u64,
    pub cycles_available: u128,
    pub cycles_refunded: u128,
    /// The call context was answered by an earlier execution.
    pub already_responded: bool,
    pub reply_buf: Vec<u8>,
    pub response: Option<CallResult>,
    pub pending_call: Option<OutgoingCall>,
    pub calls: Vec<OutgoingCall>,
    pub accepted_message: bool,
    pub certificate: Option<crate::system_api::DataCertificate>,
    pub limit: u64,
    /// Instructions the call context used before this execution.
    pub context_instructions: u64,
    pub max_reply_bytes: usize,
    pub max_payload_bytes: usize,
    pub max_stable_bytes: u64,
}

impl ExecCtx {
    pub(crate) fn new(kind: ApiKind, caller: Principal, time: u64, limit: u64) -> Self {
        ExecCtx {
            kind,
            caller,
            method: String::new(),
            arg: Vec::new(),
            reject: None,
            time,
            deadline: 0,
            cycles_available: 0,
            cycles_refunded: 0,
            already_responded: false,
            reply_buf: Vec::new(),
            response: None,
            pending_call: None,
            calls: Vec::new(),
            accepted_message: false,
            certificate: None,
            limit,
            context_instructions: 0,
            max_reply_bytes: 2 * 1024 * 1024,
            max_payload_bytes: 2 * 1024 * 1024,
            max_stable_bytes: u64::MAX,
        }
    }

    pub(crate) fn can_respond(&self) -> bool {
        matches!(
            self.kind,
            ApiKind::Update
                | ApiKind::ReplicatedQuery
                | ApiKind::NonReplicatedQuery
                | ApiKind::ReplyCallback
                | ApiKind::RejectCallback
        ) && !self.already_responded
            && self.response.is_none()
    }
}

/// The undo log of the running message.
#[derive(Debug, Default)]
pub(crate) struct Undo {
    /// Old contents of heap pages, saved before their first write in this message.
    pub heap_pages: Vec<(u32, Box<[u8]>)>,
    /// Pages whose dirty-map byte is set (saved pages and pages the message grew).
    pub touched: Vec<u32>,
    pub heap_len_at_start: usize,
    /// Old contents of stable-memory ranges, in write order.
    pub stable_writes: Vec<(u64, Vec<u8>)>,
    pub stable_len_at_start: usize,
}

/// Handles into the instance that the system API needs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Handles {
    pub memory: Option<Memory>,
    pub dirty_map: Option<Memory>,
    pub counter: Option<Global>,
}

/// The store's data: what host functions can reach.
#[derive(Debug)]
pub(crate) struct Env {
    pub id: Principal,
    pub system: SystemState,
    pub ctx: Option<ExecCtx>,
    pub undo: Undo,
    pub handles: Handles,
    pub debug_log: Vec<String>,
    pub trace_debug_print: bool,
}

impl Env {
    fn new(id: Principal, trace_debug_print: bool) -> Self {
        Env {
            id,
            system: SystemState::default(),
            ctx: None,
            undo: Undo::default(),
            handles: Handles::default(),
            debug_log: Vec::new(),
            trace_debug_print,
        }
    }
}

/// Why a host function stopped the canister.
#[derive(Debug)]
pub(crate) enum HostTrap {
    /// The canister called `ic0.trap`.
    Explicit(String),
    /// The canister misused the system API (bounds, wrong context, limits).
    Api(String),
    /// The message ran out of instructions.
    OutOfInstructions(u64),
}

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostTrap::Explicit(m) => write!(f, "Canister called `ic0.trap` with message: '{m}'"),
            HostTrap::Api(m) => write!(f, "Canister violated the system API: {m}"),
            HostTrap::OutOfInstructions(limit) => write!(
                f,
                "Canister exceeded the limit of {limit} instructions for single message execution."
            ),
        }
    }
}

impl wasmi::errors::HostError for HostTrap {}

/// What one message execution produced.
#[derive(Debug)]
pub(crate) struct Execution {
    pub ctx: ExecCtx,
    /// `Some(message)` when the execution trapped (and was rolled back).
    pub trap: Option<String>,
    pub instructions: u64,
}

/// What a successful execution keeps (a trap keeps nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Persist {
    /// Updates, callbacks, timers, install hooks.
    All,
    /// Queries and inspect_message.
    Nothing,
    /// `pre_upgrade`: its stable-memory writes go to the upgrade; the old heap stays untouched
    /// in case the upgrade fails.
    SystemOnly,
}

/// The entry point of an execution.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entry<'a> {
    Export(&'a str),
    /// A closure registered with `call_new`/`call_on_cleanup`: table index and its argument.
    Callback {
        fun: u32,
        env: u32,
    },
}

/// A canister's installed, instrumented module and its live instance.
pub(crate) struct Installed {
    module: Module,
    linker: Linker<Env>,
    store: Store<Env>,
    instance: Instance,
    globals: Vec<Global>,
    global_names: Vec<String>,
    table: Option<Table>,
    /// The `canister_*` exports of the module.
    pub exports: BTreeSet<String>,
    /// SHA-256 of the module as it was installed (of the gzipped bytes for a gzipped module).
    pub module_hash: [u8; 32],
    /// The module's `icp:public` / `icp:private` custom sections by name.
    pub metadata: BTreeMap<String, crate::module::MetadataSection>,
    /// The module as it was installed (gzipped or not), kept for snapshots.
    pub source: Vec<u8>,
}

impl std::fmt::Debug for Installed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installed")
            .field("exports", &self.exports)
            .finish_non_exhaustive()
    }
}

/// The wasmi configuration the instrumented modules need.
pub(crate) fn engine() -> Engine {
    let mut config = wasmi::Config::default();
    config
        .wasm_multi_memory(true)
        .wasm_bulk_memory(true)
        .wasm_reference_types(true)
        .wasm_multi_value(true)
        .wasm_sign_extension(true)
        .wasm_saturating_float_to_int(true)
        .wasm_mutable_global(true)
        .compilation_mode(wasmi::CompilationMode::Lazy);
    Engine::new(&config)
}

impl Installed {
    /// Validates, instruments, links and instantiates a canister module (gzipped or not: a
    /// gzipped one is decompressed up to `max_module_bytes`). Runs the module's start function
    /// (with no system API available) but no canister hook.
    pub(crate) fn new(
        engine: &Engine,
        id: Principal,
        module: &[u8],
        max_module_bytes: usize,
        trace_debug_print: bool,
    ) -> Result<Self, IcError> {
        use sha2::Digest;
        let module_hash: [u8; 32] = sha2::Sha256::digest(module).into();
        let source = module.to_vec();
        let wasm = crate::module::decode_module(module, max_module_bytes)?;
        let wasm = &wasm[..];
        let metadata = crate::module::metadata_sections(wasm)?;
        let instrumented =
            instr::instrument(wasm).map_err(|e| IcError::InvalidWasm(e.to_string()))?;
        let module = Module::new(engine, &instrumented.wasm[..])
            .map_err(|e| IcError::InvalidWasm(e.to_string()))?;
        let linker = system_api::linker(engine, &module).map_err(IcError::InvalidWasm)?;
        let exports = module
            .exports()
            .filter(|e| e.name().starts_with("canister_"))
            .map(|e| e.name().to_string())
            .collect();
        let mut store = Store::new(engine, Env::new(id, trace_debug_print));
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| IcError::InvalidWasm(format!("instantiation failed: {e}")))?;
        let (globals, table) = Self::bind(&mut store, &instance, &instrumented.globals);
        Ok(Installed {
            module,
            linker,
            store,
            instance,
            globals,
            global_names: instrumented.globals,
            table,
            exports,
            module_hash,
            metadata,
            source,
        })
    }

    /// The module re-instantiated with a saved heap and global values (a snapshot's restore).
    pub(crate) fn restore(
        engine: &Engine,
        id: Principal,
        module: &[u8],
        max_module_bytes: usize,
        trace_debug_print: bool,
        heap: &[u8],
        globals: &[crate::types::GlobalValue],
    ) -> Result<Self, IcError> {
        let mut installed = Self::new(engine, id, module, max_module_bytes, trace_debug_print)?;
        if globals.len() != installed.globals.len() {
            return Err(IcError::InvalidWasm(format!(
                "the snapshot has {} globals, the module {}",
                globals.len(),
                installed.globals.len()
            )));
        }
        let values: Vec<Val> = globals.iter().map(|g| g.to_val()).collect();
        let store = &mut installed.store;
        if let Some(memory) = store.data().handles.memory {
            let have = memory.data(&*store).len();
            if heap.len() < have || !(heap.len() as u64).is_multiple_of(WASM_PAGE) {
                return Err(IcError::InvalidWasm(format!(
                    "the snapshot's heap of {} bytes does not fit the module's memory of {have}",
                    heap.len()
                )));
            }
            memory
                .grow(&mut *store, (heap.len() - have) as u64 / WASM_PAGE)
                .map_err(|e| IcError::InvalidWasm(format!("cannot grow the heap: {e}")))?;
            memory.data_mut(&mut *store)[..heap.len()].copy_from_slice(heap);
        } else if !heap.is_empty() {
            return Err(IcError::InvalidWasm(
                "the snapshot has a heap, the module none".into(),
            ));
        }
        for (g, v) in installed.globals.iter().zip(values) {
            g.set(&mut installed.store, v)
                .map_err(|e| IcError::InvalidWasm(format!("restoring a global: {e}")))?;
        }
        Ok(installed)
    }

    /// The heap and the global values, for a snapshot.
    pub(crate) fn save(&self) -> (Vec<u8>, Vec<crate::types::GlobalValue>) {
        let heap = self.read_heap(0, self.heap_len()).unwrap_or_default();
        let globals = self
            .globals
            .iter()
            .map(|g| crate::types::GlobalValue::from_val(&g.get(&self.store)))
            .collect();
        (heap, globals)
    }

    fn bind(
        store: &mut Store<Env>,
        instance: &Instance,
        global_names: &[String],
    ) -> (Vec<Global>, Option<Table>) {
        let handles = Handles {
            memory: instance.get_memory(&*store, instr::EXPORT_MEMORY),
            dirty_map: instance.get_memory(&*store, instr::EXPORT_DIRTY_MAP),
            counter: instance.get_global(&*store, instr::EXPORT_COUNTER),
        };
        store.data_mut().handles = handles;
        let globals = global_names
            .iter()
            .filter_map(|n| instance.get_global(&*store, n))
            .collect();
        let table = instance.get_table(&*store, instr::EXPORT_TABLE);
        (globals, table)
    }

    pub(crate) fn has_export(&self, name: &str) -> bool {
        self.exports.contains(name)
    }

    /// The heap's current size in bytes.
    pub(crate) fn heap_len(&self) -> usize {
        self.store
            .data()
            .handles
            .memory
            .map_or(0, |m| m.data(&self.store).len())
    }

    /// Reads `len` bytes of the heap at `ptr` (for tools such as the candid extractor).
    pub(crate) fn read_heap(&self, ptr: usize, len: usize) -> Option<Vec<u8>> {
        let memory = self.store.data().handles.memory?;
        memory
            .data(&self.store)
            .get(ptr..ptr.checked_add(len)?)
            .map(<[u8]>::to_vec)
    }

    pub(crate) fn debug_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.store.data_mut().debug_log)
    }

    /// Calls an exported `() -> i32` function outside any message (candid extraction).
    pub(crate) fn call_i32_export(&mut self, name: &str, limit: u64) -> Result<i32, String> {
        let func = self
            .instance
            .get_typed_func::<(), i32>(&self.store, name)
            .map_err(|e| format!("export {name}: {e}"))?;
        if let Some(counter) = self.store.data().handles.counter {
            counter
                .set(&mut self.store, Val::I64(limit as i64))
                .map_err(|e| e.to_string())?;
        }
        func.call(&mut self.store, ()).map_err(|e| e.to_string())
    }

    /// Runs one message atomically: a trap rolls back everything it changed; `persist` says
    /// what a successful execution keeps. `system` is moved into the store for the execution.
    pub(crate) fn execute(
        &mut self,
        system: &mut SystemState,
        entry: Entry<'_>,
        ctx: ExecCtx,
        persist: Persist,
    ) -> Execution {
        let limit = ctx.limit;
        let globals_before: Vec<Val> = self.globals.iter().map(|g| g.get(&self.store)).collect();
        let heap_len = self.heap_len();
        let small_before = (
            system.certified_data.clone(),
            system.global_timer,
            system.cycles,
        );
        {
            let env = self.store.data_mut();
            std::mem::swap(&mut env.system, system);
            env.undo = Undo {
                heap_len_at_start: heap_len,
                stable_len_at_start: env.system.stable.len(),
                ..Undo::default()
            };
            env.ctx = Some(ctx);
        }
        let counter = self.store.data().handles.counter;
        if let Some(counter) = counter {
            // The instrumented module declares the counter as a mutable i64: set cannot fail.
            let _ = counter.set(&mut self.store, Val::I64(limit.min(i64::MAX as u64) as i64));
        }
        let result = self.call_entry(entry);
        let left = counter.map_or(0, |c| match c.get(&self.store) {
            Val::I64(v) => v,
            _ => 0,
        });
        let instructions = (limit.min(i64::MAX as u64) as i64)
            .saturating_sub(left)
            .max(0) as u64;
        // The counter is checked at function entries and loop headers only, so a message can
        // end slightly below zero without having trapped: it still ran out of instructions.
        let result = match result {
            Ok(()) if left < 0 => Err(wasmi::Error::host(HostTrap::OutOfInstructions(limit))),
            other => other,
        };
        let trap = result.err().map(|e| describe_trap(&e));
        let (keep_heap, keep_system) = match (&trap, persist) {
            (Some(_), _) | (None, Persist::Nothing) => (false, false),
            (None, Persist::All) => (true, true),
            (None, Persist::SystemOnly) => (false, true),
        };
        let mut undo = std::mem::take(&mut self.store.data_mut().undo);
        self.clear_dirty_map(&undo.touched);
        if keep_system {
            undo.stable_writes.clear();
            undo.stable_len_at_start = self.store.data().system.stable.len();
        }
        let needs_rebuild = !keep_heap && self.rollback(undo, &globals_before);
        let env = self.store.data_mut();
        let ctx = env.ctx.take();
        std::mem::swap(&mut env.system, system);
        if !keep_system {
            (system.certified_data, system.global_timer, system.cycles) = small_before;
        }
        if needs_rebuild {
            if let Err(e) = self.rebuild(heap_len, &globals_before) {
                tracing::error!(canister = %self.store.data().id, "rebuild after rollback failed: {e}");
            }
        }
        // `ctx` was put in above and only taken here.
        let ctx = ctx.unwrap_or_else(|| ExecCtx::new(ApiKind::Start, Principal::anonymous(), 0, 0));
        Execution {
            ctx,
            trap,
            instructions,
        }
    }

    fn call_entry(&mut self, entry: Entry<'_>) -> Result<(), wasmi::Error> {
        match entry {
            Entry::Export(name) => {
                let func = self
                    .instance
                    .get_func(&self.store, name)
                    .ok_or_else(|| wasmi::Error::new(format!("export {name} not found")))?;
                func.call(&mut self.store, &[], &mut [])
            }
            Entry::Callback { fun, env } => {
                let func = self.table_func(fun)?;
                func.call(&mut self.store, &[Val::I32(env as i32)], &mut [])
            }
        }
    }

    fn table_func(&self, index: u32) -> Result<Func, wasmi::Error> {
        let table = self
            .table
            .ok_or_else(|| wasmi::Error::new("the module has no function table for callbacks"))?;
        match table.get(&self.store, index as u64) {
            Some(Ref::Func(f)) => f
                .val()
                .copied()
                .ok_or_else(|| wasmi::Error::new(format!("callback {index} is a null function"))),
            _ => Err(wasmi::Error::new(format!(
                "callback {index} is not in the function table"
            ))),
        }
    }

    fn clear_dirty_map(&mut self, touched: &[u32]) {
        if let Some(map) = self.store.data().handles.dirty_map {
            let data = map.data_mut(&mut self.store);
            for &p in touched {
                if let Some(b) = data.get_mut(p as usize) {
                    *b = 0;
                }
            }
        }
    }

    /// Restores heap pages, stable memory and globals. Returns true when the heap grew and the
    /// instance must be rebuilt to shrink it.
    fn rollback(&mut self, undo: Undo, globals_before: &[Val]) -> bool {
        let (memory, grew) = match self.store.data().handles.memory {
            Some(m) => (Some(m), m.data(&self.store).len() > undo.heap_len_at_start),
            None => (None, false),
        };
        if let Some(memory) = memory {
            let data = memory.data_mut(&mut self.store);
            for (page, bytes) in undo.heap_pages.iter().rev() {
                let start = *page as usize * HEAP_PAGE;
                if let Some(dst) = data.get_mut(start..start + bytes.len()) {
                    dst.copy_from_slice(bytes);
                }
            }
        }
        let stable = &mut self.store.data_mut().system.stable;
        for (offset, old) in undo.stable_writes.iter().rev() {
            let start = *offset as usize;
            if let Some(dst) = stable.get_mut(start..start + old.len()) {
                dst.copy_from_slice(old);
            }
        }
        stable.truncate(undo.stable_len_at_start);
        for (g, v) in self.globals.iter().zip(globals_before) {
            let _ = g.set(&mut self.store, v.clone());
        }
        grew
    }

    /// Re-creates the instance with the heap cut back to `heap_len` bytes (after a message that
    /// grew the heap trapped). Costs a copy of the heap; happens only in that case.
    fn rebuild(&mut self, heap_len: usize, values: &[Val]) -> Result<(), String> {
        let old_heap = self.read_heap(0, heap_len).unwrap_or_default();
        let env = std::mem::replace(
            self.store.data_mut(),
            Env::new(Principal::anonymous(), false),
        );
        let mut store = Store::new(self.store.engine(), env);
        let instance = self
            .linker
            .instantiate_and_start(&mut store, &self.module)
            .map_err(|e| e.to_string())?;
        let (globals, table) = Self::bind(&mut store, &instance, &self.global_names);
        if let Some(memory) = store.data().handles.memory {
            let have = memory.data(&store).len() as u64;
            let want = heap_len as u64;
            if want > have {
                memory
                    .grow(&mut store, (want - have) / WASM_PAGE)
                    .map_err(|e| format!("cannot regrow the heap: {e}"))?;
            }
            memory.data_mut(&mut store)[..heap_len].copy_from_slice(&old_heap);
        }
        for (g, v) in globals.iter().zip(values) {
            g.set(&mut store, v.clone()).map_err(|e| e.to_string())?;
        }
        self.store = store;
        self.instance = instance;
        self.globals = globals;
        self.table = table;
        Ok(())
    }
}

/// Turns a wasmi error into the message a caller sees.
fn describe_trap(e: &wasmi::Error) -> String {
    if let Some(host) = e.downcast_ref::<HostTrap>() {
        return host.to_string();
    }
    if let Some(code) = e.as_trap_code() {
        return format!("Canister trapped: {code}");
    }
    format!("Canister trapped: {e}")
}

/// Maps an execution's trap to the reject a caller receives.
pub(crate) fn trap_reject(canister: Principal, message: &str) -> Reject {
    Reject::new(
        RejectCode::CanisterError,
        format!("Error from Canister {canister}: {message}"),
    )
}
