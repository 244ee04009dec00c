//! The host: canisters, the message queue, call contexts and callbacks, time and timers.
//!
//! Scheduling is deterministic. A round ([`EmbeddedIc::tick`]) first queues the global timer
//! of every canister whose timer is due, then executes queued messages in FIFO order until the
//! queue is empty, so messages between any two canisters keep their order. Each execution is
//! atomic (see [`crate::canister`]); an update that awaits other canisters runs as several
//! executions (the call, then one per callback), as on the IC.

use crate::canister::{
    engine, trap_reject, ApiKind, Entry, ExecCtx, Execution, Installed, Persist, SystemState,
};
use crate::certificate::CertificateSigner;
use crate::module::Visibility;
use crate::system_api;
use crate::types::{
    canister_id, CallResult, CanisterState, IcConfig, IcError, IcState, InstallMode, MessageId,
    ModuleState, Reject, RejectCode,
};
use candid::Principal;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// Messages executed in one round at most (a canister that calls itself forever is cut off
/// there and resumes in the next round).
const MAX_EXECUTIONS_PER_ROUND: usize = 100_000;

/// Whether a canister executes messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanisterStatus {
    Running,
    /// Stop was requested; open call contexts still get their responses.
    Stopping,
    Stopped,
}

#[derive(Clone, Copy, Debug)]
enum Origin {
    Ingress(MessageId, Principal),
    Canister { caller: Principal, callback: u64 },
    System,
}

#[derive(Debug)]
struct CallContext {
    origin: Origin,
    responded: bool,
    cycles_available: u128,
    instructions: u64,
    outstanding: u32,
}

#[derive(Clone, Copy, Debug)]
struct Callback {
    context: u64,
    reply: (u32, u32),
    reject: (u32, u32),
    cleanup: Option<(u32, u32)>,
    /// The module generation that registered it; an upgrade makes older callbacks stale.
    generation: u64,
}

struct Canister {
    system: SystemState,
    installed: Option<Installed>,
    status: CanisterStatus,
    generation: u64,
    contexts: BTreeMap<u64, CallContext>,
    callbacks: BTreeMap<u64, Callback>,
    next_id: u64,
    debug_log: Vec<String>,
}

impl Canister {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

enum Task {
    Ingress {
        id: MessageId,
        to: Principal,
        method: String,
        arg: Vec<u8>,
        caller: Principal,
    },
    Request {
        from: Principal,
        callback: u64,
        to: Principal,
        method: String,
        arg: Vec<u8>,
        cycles: u128,
        deadline: u64,
    },
    Response {
        to: Principal,
        callback: u64,
        result: CallResult,
        refund: u128,
    },
    Timer {
        canister: Principal,
    },
}

/// An in-process Internet Computer that runs real canister wasm.
pub struct EmbeddedIc {
    engine: wasmi::Engine,
    config: IcConfig,
    canisters: BTreeMap<Principal, Canister>,
    queue: VecDeque<Task>,
    time: u64,
    next_canister: u64,
    next_message: u64,
    ingress: HashMap<MessageId, Option<CallResult>>,
    ingress_instructions: HashMap<MessageId, u64>,
    last_instructions: u64,
    rand_counter: u64,
    signer: Option<CertificateSigner>,
}

impl Default for EmbeddedIc {
    fn default() -> Self {
        Self::new()
    }
}

/// 2026-01-01T00:00:00Z: where the clock starts, so canisters see a realistic time.
const GENESIS_TIME_NS: u64 = 1_767_225_600_000_000_000;

impl EmbeddedIc {
    pub fn new() -> Self {
        Self::with_config(IcConfig::default())
    }

    pub fn with_config(config: IcConfig) -> Self {
        EmbeddedIc {
            engine: engine(),
            config,
            canisters: BTreeMap::new(),
            queue: VecDeque::new(),
            time: GENESIS_TIME_NS,
            next_canister: 0,
            next_message: 0,
            ingress: HashMap::new(),
            ingress_instructions: HashMap::new(),
            last_instructions: 0,
            rand_counter: 0,
            signer: None,
        }
    }

    pub fn config(&self) -> &IcConfig {
        &self.config
    }

    /// Signs the data certificates canisters see in queries from now on (without a signer
    /// their signature is zero bytes). See [`crate::certificate`].
    pub fn set_certificate_signer(&mut self, signer: CertificateSigner) {
        self.signer = Some(signer);
    }

    // --- time --------------------------------------------------------------------------------

    /// The current time in nanoseconds since the Unix epoch.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// Sets the clock. Time never goes backwards: an earlier value is ignored.
    pub fn set_time(&mut self, nanos: u64) {
        self.time = self.time.max(nanos);
    }

    /// Moves the clock forward; timers that became due fire on the next [`Self::tick`].
    pub fn advance_time(&mut self, by: Duration) {
        self.time = self
            .time
            .saturating_add(by.as_nanos().min(u64::MAX as u128) as u64);
    }

    // --- canister management -----------------------------------------------------------------

    /// Creates an empty canister with the given controllers and returns its id.
    pub fn create_canister(&mut self, controllers: Vec<Principal>) -> Principal {
        let cycles = self.config.initial_cycles;
        self.create_canister_with_cycles(controllers, cycles)
    }

    /// Creates an empty canister holding `cycles` (the management canister's
    /// `provisional_create_canister_with_cycles`).
    pub fn create_canister_with_cycles(
        &mut self,
        controllers: Vec<Principal>,
        cycles: u128,
    ) -> Principal {
        // Ids are handed out in order, skipping any taken by `create_canister_at`.
        let mut id = canister_id(self.next_canister);
        self.next_canister += 1;
        while self.canisters.contains_key(&id) {
            id = canister_id(self.next_canister);
            self.next_canister += 1;
        }
        self.insert_canister(id, controllers, cycles);
        id
    }

    /// Creates an empty canister with the id `id` (the management canister's
    /// `provisional_create_canister_with_cycles` with `specified_id`), so a deployment gets the
    /// ids it expects. Fails if a canister with that id exists.
    pub fn create_canister_at(
        &mut self,
        id: Principal,
        controllers: Vec<Principal>,
        cycles: u128,
    ) -> Result<(), IcError> {
        if self.canisters.contains_key(&id) {
            return Err(IcError::CanisterExists(id));
        }
        self.insert_canister(id, controllers, cycles);
        Ok(())
    }

    fn insert_canister(&mut self, id: Principal, controllers: Vec<Principal>, cycles: u128) {
        let system = SystemState {
            cycles,
            controllers,
            ..SystemState::default()
        };
        self.canisters.insert(
            id,
            Canister {
                system,
                installed: None,
                status: CanisterStatus::Running,
                generation: 0,
                contexts: BTreeMap::new(),
                callbacks: BTreeMap::new(),
                next_id: 0,
                debug_log: Vec::new(),
            },
        );
    }

    /// Creates a canister controlled by `controllers` and installs `wasm` with the candid
    /// `init_arg`, as its first controller (or the anonymous principal when there is none).
    pub fn install_canister(
        &mut self,
        wasm: &[u8],
        init_arg: Vec<u8>,
        controllers: Vec<Principal>,
    ) -> Result<Principal, IcError> {
        let sender = controllers
            .first()
            .copied()
            .unwrap_or_else(Principal::anonymous);
        let mut controllers = controllers;
        if controllers.is_empty() {
            controllers.push(sender);
        }
        let id = self.create_canister(controllers);
        match self.install_code(id, InstallMode::Install, wasm, init_arg, sender) {
            Ok(()) => Ok(id),
            Err(e) => {
                self.canisters.remove(&id);
                Err(e)
            }
        }
    }

    /// Upgrades `canister` to `wasm`: `pre_upgrade` on the old module, then `post_upgrade`
    /// with `arg` on the new one; stable memory is kept, the heap starts afresh. A trap in
    /// either hook leaves the canister exactly as it was.
    pub fn upgrade_canister(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), IcError> {
        self.install_code(canister, InstallMode::Upgrade, wasm, arg, sender)
    }

    /// Replaces the module and wipes all state, then runs `canister_init` with `arg`.
    pub fn reinstall_canister(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), IcError> {
        self.install_code(canister, InstallMode::Reinstall, wasm, arg, sender)
    }

    /// The management canister's `install_code`.
    pub fn install_code(
        &mut self,
        id: Principal,
        mode: InstallMode,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), IcError> {
        let time = self.time;
        let limit = self.config.install_instruction_limit;
        let max_payload = self.config.max_payload_bytes;
        let trace = self.config.trace_debug_print;
        let max_module = self.config.max_decompressed_module_bytes;
        let canister = self
            .canisters
            .get_mut(&id)
            .ok_or(IcError::CanisterNotFound(id))?;
        if !canister.system.controllers.contains(&sender) {
            return Err(IcError::NotController {
                canister: id,
                caller: sender,
            });
        }
        match (mode, canister.installed.is_some()) {
            (InstallMode::Install, true) => return Err(IcError::AlreadyInstalled(id)),
            (InstallMode::Upgrade, false) => return Err(IcError::CanisterEmpty(id)),
            _ => {}
        }
        let mut system = match mode {
            InstallMode::Install | InstallMode::Reinstall => SystemState {
                cycles: canister.system.cycles,
                controllers: canister.system.controllers.clone(),
                version: canister.system.version,
                ..SystemState::default()
            },
            InstallMode::Upgrade => canister.system.clone(),
        };
        let trapped = |phase: &'static str, message: String| IcError::Trapped {
            canister: id,
            phase,
            message,
        };
        let ctx = |kind| {
            let mut c = ExecCtx::new(kind, sender, time, limit);
            c.max_payload_bytes = max_payload;
            c
        };
        if mode == InstallMode::Upgrade {
            if let Some(old) = canister.installed.as_mut() {
                if old.has_export("canister_pre_upgrade") {
                    let exec = old.execute(
                        &mut system,
                        Entry::Export("canister_pre_upgrade"),
                        ctx(ApiKind::PreUpgrade),
                        Persist::SystemOnly,
                    );
                    canister.debug_log.extend(old.debug_log());
                    if let Some(t) = exec.trap {
                        return Err(trapped("pre_upgrade", t));
                    }
                }
            }
            // The IC deactivates the global timer on upgrade.
            system.global_timer = 0;
        }
        let mut new = Installed::new(&self.engine, id, wasm, max_module, trace)?;
        let (hook, kind, phase) = match mode {
            InstallMode::Upgrade => (
                "canister_post_upgrade",
                ApiKind::PostUpgrade,
                "post_upgrade",
            ),
            _ => ("canister_init", ApiKind::Init, "init"),
        };
        if new.has_export(hook) {
            let mut c = ctx(kind);
            c.arg = arg;
            let exec = new.execute(&mut system, Entry::Export(hook), c, Persist::All);
            canister.debug_log.extend(new.debug_log());
            if let Some(t) = exec.trap {
                return Err(trapped(phase, t));
            }
        }
        system.version += 1;
        canister.system = system;
        canister.installed = Some(new);
        canister.generation += 1;
        Ok(())
    }

    /// Stops a canister: it finishes open calls, then executes no more messages.
    pub fn stop_canister(&mut self, id: Principal, sender: Principal) -> Result<(), IcError> {
        let c = self.controlled(id, sender)?;
        c.status = if c.contexts.is_empty() {
            CanisterStatus::Stopped
        } else {
            CanisterStatus::Stopping
        };
        for _ in 0..self.config.max_rounds_per_call {
            if self.canister_status(id) != Some(CanisterStatus::Stopping) {
                break;
            }
            self.tick();
        }
        Ok(())
    }

    pub fn start_canister(&mut self, id: Principal, sender: Principal) -> Result<(), IcError> {
        self.controlled(id, sender)?.status = CanisterStatus::Running;
        Ok(())
    }

    pub fn set_controllers(
        &mut self,
        id: Principal,
        sender: Principal,
        controllers: Vec<Principal>,
    ) -> Result<(), IcError> {
        self.controlled(id, sender)?.system.controllers = controllers;
        Ok(())
    }

    fn controlled(&mut self, id: Principal, sender: Principal) -> Result<&mut Canister, IcError> {
        let c = self
            .canisters
            .get_mut(&id)
            .ok_or(IcError::CanisterNotFound(id))?;
        if !c.system.controllers.contains(&sender) {
            return Err(IcError::NotController {
                canister: id,
                caller: sender,
            });
        }
        Ok(c)
    }

    // --- inspection ----------------------------------------------------------------------------

    pub fn canister_ids(&self) -> Vec<Principal> {
        self.canisters.keys().copied().collect()
    }

    pub fn canister_status(&self, id: Principal) -> Option<CanisterStatus> {
        self.canisters.get(&id).map(|c| c.status)
    }

    pub fn controllers(&self, id: Principal) -> Option<Vec<Principal>> {
        self.canisters
            .get(&id)
            .map(|c| c.system.controllers.clone())
    }

    pub fn cycle_balance(&self, id: Principal) -> Option<u128> {
        self.canisters.get(&id).map(|c| c.system.cycles)
    }

    pub fn certified_data(&self, id: Principal) -> Option<Vec<u8>> {
        self.canisters
            .get(&id)
            .map(|c| c.system.certified_data.clone())
    }

    /// Stable memory size in bytes.
    pub fn stable_size(&self, id: Principal) -> Option<u64> {
        self.canisters
            .get(&id)
            .map(|c| c.system.stable.len() as u64)
    }

    /// Heap size in bytes (0 for an empty canister).
    pub fn heap_size(&self, id: Principal) -> Option<u64> {
        self.canisters
            .get(&id)
            .map(|c| c.installed.as_ref().map_or(0, |i| i.heap_len() as u64))
    }

    /// SHA-256 of the installed module as it was installed (for a gzipped module, of the
    /// gzipped bytes), as the IC reports it.
    pub fn module_hash(&self, id: Principal) -> Option<[u8; 32]> {
        self.canisters
            .get(&id)?
            .installed
            .as_ref()
            .map(|i| i.module_hash)
    }

    /// The public metadata section `name` of the canister's module (its `icp:public <name>`
    /// custom section), as anyone reads it through `read_state` at
    /// `/canister/<id>/metadata/<name>`. `None` for a missing canister, an empty one, a missing
    /// section and a private one (see [`Self::canister_metadata_as`]).
    pub fn canister_metadata(&self, id: Principal, name: &str) -> Option<Vec<u8>> {
        let section = self
            .canisters
            .get(&id)?
            .installed
            .as_ref()?
            .metadata
            .get(name)?;
        (section.visibility == Visibility::Public).then(|| section.content.clone())
    }

    /// The metadata section `name` as `sender` reads it through `read_state`: public sections
    /// for anyone, private ones only for the canister's controllers.
    pub fn canister_metadata_as(
        &self,
        id: Principal,
        name: &str,
        sender: Principal,
    ) -> Option<Vec<u8>> {
        let canister = self.canisters.get(&id)?;
        let section = canister.installed.as_ref()?.metadata.get(name)?;
        let allowed = section.visibility == Visibility::Public
            || canister.system.controllers.contains(&sender);
        allowed.then(|| section.content.clone())
    }

    /// The names of the canister module's metadata sections with their visibility.
    pub fn canister_metadata_names(&self, id: Principal) -> Vec<(String, Visibility)> {
        self.canisters
            .get(&id)
            .and_then(|c| c.installed.as_ref())
            .map(|i| {
                i.metadata
                    .iter()
                    .map(|(n, s)| (n.clone(), s.visibility))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The canister's `debug_print` output since the last call, in order.
    pub fn take_debug_log(&mut self, id: Principal) -> Vec<String> {
        let Some(c) = self.canisters.get_mut(&id) else {
            return Vec::new();
        };
        let mut log = std::mem::take(&mut c.debug_log);
        if let Some(i) = c.installed.as_mut() {
            log.extend(i.debug_log());
        }
        log
    }

    /// Instructions of the most recent ingress or query execution (its own execution, not the
    /// callbacks of calls it made).
    pub fn last_instructions(&self) -> u64 {
        self.last_instructions
    }

    /// Instructions of a completed ingress message's whole call context (all its executions).
    pub fn message_instructions(&self, id: MessageId) -> Option<u64> {
        self.ingress_instructions.get(&id).copied()
    }

    /// Whether messages or due timers are waiting.
    pub fn has_pending_work(&self) -> bool {
        !self.queue.is_empty() || self.due_timers().next().is_some()
    }

    // --- calls ---------------------------------------------------------------------------------

    /// Submits an update call and runs rounds until it completes.
    pub fn update_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> CallResult {
        let id = self.submit_update(canister, sender, method, arg)?;
        self.await_update(id)
            .unwrap_or_else(|e| Err(Reject::new(RejectCode::SysTransient, e.to_string())))
    }

    /// Submits an update call as an ingress message (after `canister_inspect_message`, if the
    /// canister exports it, accepted it). Nothing runs until [`Self::tick`] or
    /// [`Self::await_update`].
    pub fn submit_update(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<MessageId, Reject> {
        if arg.len() > self.config.max_payload_bytes {
            return Err(Reject::new(
                RejectCode::CanisterReject,
                format!(
                    "the payload of {} bytes exceeds {} bytes",
                    arg.len(),
                    self.config.max_payload_bytes
                ),
            ));
        }
        self.check_destination(canister, method, false)?;
        self.inspect_message(canister, sender, method, &arg)?;
        self.next_message += 1;
        let id = MessageId(self.next_message);
        self.ingress.insert(id, None);
        self.queue.push_back(Task::Ingress {
            id,
            to: canister,
            method: method.to_string(),
            arg,
            caller: sender,
        });
        Ok(id)
    }

    /// Runs rounds until the ingress message `id` has a result.
    pub fn await_update(&mut self, id: MessageId) -> Result<CallResult, IcError> {
        for _ in 0..self.config.max_rounds_per_call {
            match self.ingress.get(&id) {
                None => return Err(IcError::UnknownMessage(id.0)),
                Some(Some(result)) => return Ok(result.clone()),
                Some(None) => self.tick(),
            }
        }
        Err(IcError::DidNotComplete(
            id.0,
            self.config.max_rounds_per_call,
        ))
    }

    /// The result of an ingress message, once it has one.
    pub fn ingress_status(&self, id: MessageId) -> Option<CallResult> {
        self.ingress.get(&id).cloned().flatten()
    }

    /// A non-replicated query: runs at once, sees a data certificate, changes nothing.
    pub fn query_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> CallResult {
        let export = format!("canister_query {method}");
        let composite = format!("canister_composite_query {method}");
        self.check_destination(canister, method, true)?;
        let time = self.time;
        let config = &self.config;
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or_else(|| not_found(canister))?;
        let installed = c.installed.as_mut().ok_or_else(|| empty(canister))?;
        let export = if installed.has_export(&export) {
            export
        } else if installed.has_export(&composite) {
            composite
        } else {
            return Err(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} has no query method '{method}'"),
            ));
        };
        let mut ctx = ExecCtx::new(
            ApiKind::NonReplicatedQuery,
            sender,
            time,
            config.query_instruction_limit,
        );
        ctx.method = method.to_string();
        ctx.arg = arg;
        ctx.max_reply_bytes = config.max_reply_bytes;
        ctx.certificate = Some(system_api::DataCertificate::Pending {
            canister,
            certified_data: c.system.certified_data.clone(),
            time,
            signer: self.signer.clone(),
        });
        let exec = installed.execute(&mut c.system, Entry::Export(&export), ctx, Persist::Nothing);
        c.debug_log.extend(installed.debug_log());
        self.last_instructions = exec.instructions;
        match exec.trap {
            Some(t) => Err(trap_reject(canister, &t)),
            None => exec.ctx.response.unwrap_or_else(|| {
                Err(Reject::new(
                    RejectCode::CanisterError,
                    format!("Canister {canister} did not produce a response"),
                ))
            }),
        }
    }

    /// Runs one round: due global timers, then every queued message.
    pub fn tick(&mut self) {
        let due: Vec<Principal> = self.due_timers().collect();
        for canister in due {
            if let Some(c) = self.canisters.get_mut(&canister) {
                c.system.global_timer = 0;
            }
            self.queue.push_back(Task::Timer { canister });
        }
        for _ in 0..MAX_EXECUTIONS_PER_ROUND {
            let Some(task) = self.queue.pop_front() else {
                break;
            };
            self.run(task);
        }
    }

    /// Runs rounds until no message is queued and no timer is due (at most `max_rounds`).
    pub fn run_until_idle(&mut self, max_rounds: u32) {
        for _ in 0..max_rounds {
            if !self.has_pending_work() {
                return;
            }
            self.tick();
        }
    }

    fn due_timers(&self) -> impl Iterator<Item = Principal> + '_ {
        self.canisters.iter().filter_map(move |(id, c)| {
            let due = c.system.global_timer != 0 && c.system.global_timer <= self.time;
            let runs = c.status == CanisterStatus::Running
                && c.installed
                    .as_ref()
                    .is_some_and(|i| i.has_export("canister_global_timer"));
            (due && runs).then_some(*id)
        })
    }

    /// Whether `method` of `canister` can receive a call now; the export it runs.
    fn check_destination(
        &self,
        canister: Principal,
        method: &str,
        query: bool,
    ) -> Result<(), Reject> {
        let c = self
            .canisters
            .get(&canister)
            .ok_or_else(|| not_found(canister))?;
        if c.installed.is_none() {
            return Err(empty(canister));
        }
        if c.status != CanisterStatus::Running {
            return Err(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} is stopped and therefore does not have a CallContextManager"),
            ));
        }
        if !query && update_export(c, method).is_none() {
            return Err(Reject::new(
                RejectCode::CanisterError,
                format!("Canister {canister} has no update method '{method}'"),
            ));
        }
        Ok(())
    }

    fn inspect_message(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<(), Reject> {
        let time = self.time;
        let limit = self.config.inspect_instruction_limit;
        let Some(c) = self.canisters.get_mut(&canister) else {
            return Err(not_found(canister));
        };
        let Some(installed) = c.installed.as_mut() else {
            return Err(empty(canister));
        };
        if !installed.has_export("canister_inspect_message") {
            return Ok(());
        }
        let mut ctx = ExecCtx::new(ApiKind::InspectMessage, sender, time, limit);
        ctx.method = method.to_string();
        ctx.arg = arg.to_vec();
        let exec = installed.execute(
            &mut c.system,
            Entry::Export("canister_inspect_message"),
            ctx,
            Persist::Nothing,
        );
        c.debug_log.extend(installed.debug_log());
        match exec.trap {
            Some(t) => Err(Reject::new(
                RejectCode::CanisterReject,
                format!("Canister {canister} rejected the message in inspect_message: {t}"),
            )),
            None if !exec.ctx.accepted_message => Err(Reject::new(
                RejectCode::CanisterReject,
                format!(
                    "Canister {canister} rejected the message: inspect_message did not accept it"
                ),
            )),
            None => Ok(()),
        }
    }

    // --- execution -----------------------------------------------------------------------------

    fn run(&mut self, task: Task) {
        match task {
            Task::Ingress {
                id,
                to,
                method,
                arg,
                caller,
            } => {
                let origin = Origin::Ingress(id, caller);
                if let Err(reject) = self.start_call(to, origin, &method, arg, caller, 0, 0) {
                    self.ingress.insert(id, Some(Err(reject)));
                }
            }
            Task::Request {
                from,
                callback,
                to,
                method,
                arg,
                cycles,
                deadline,
            } => {
                let immediate = if to == Principal::management_canister() {
                    Some(self.management_call(from, &method, &arg))
                } else {
                    let origin = Origin::Canister {
                        caller: from,
                        callback,
                    };
                    self.start_call(to, origin, &method, arg, from, cycles, deadline)
                        .err()
                        .map(Err)
                };
                if let Some(result) = immediate {
                    self.queue.push_back(Task::Response {
                        to: from,
                        callback,
                        result,
                        refund: cycles,
                    });
                }
            }
            Task::Response {
                to,
                callback,
                result,
                refund,
            } => self.deliver_response(to, callback, result, refund),
            Task::Timer { canister } => self.run_timer(canister),
        }
    }

    /// Starts a call context on `to` and executes its first message.
    #[allow(clippy::too_many_arguments)]
    fn start_call(
        &mut self,
        to: Principal,
        origin: Origin,
        method: &str,
        arg: Vec<u8>,
        caller: Principal,
        cycles: u128,
        deadline: u64,
    ) -> Result<(), Reject> {
        self.check_destination(to, method, false)?;
        let time = self.time;
        let c = self.canisters.get_mut(&to).ok_or_else(|| not_found(to))?;
        let (export, kind, persist) = update_export(c, method).ok_or_else(|| empty(to))?;
        let context = c.new_id();
        c.contexts.insert(
            context,
            CallContext {
                origin,
                responded: false,
                cycles_available: cycles,
                instructions: 0,
                outstanding: 0,
            },
        );
        let limit = match kind {
            ApiKind::ReplicatedQuery => self.config.query_instruction_limit,
            _ => self.config.update_instruction_limit,
        };
        let mut ctx = ExecCtx::new(kind, caller, time, limit);
        ctx.method = method.to_string();
        ctx.arg = arg;
        ctx.cycles_available = cycles;
        ctx.deadline = deadline;
        ctx.max_reply_bytes = self.config.max_reply_bytes;
        ctx.max_payload_bytes = self.config.max_payload_bytes;
        ctx.max_stable_bytes = self.config.max_stable_memory_bytes;
        let Some(installed) = c.installed.as_mut() else {
            return Err(empty(to));
        };
        let exec = installed.execute(&mut c.system, Entry::Export(&export), ctx, persist);
        c.debug_log.extend(installed.debug_log());
        if matches!(origin, Origin::Ingress(..)) {
            self.last_instructions = exec.instructions;
        }
        self.finish(to, context, exec, persist == Persist::All);
        Ok(())
    }

    fn deliver_response(&mut self, to: Principal, callback: u64, result: CallResult, refund: u128) {
        let time = self.time;
        let limit = self.config.update_instruction_limit;
        let (max_reply, max_payload, max_stable) = (
            self.config.max_reply_bytes,
            self.config.max_payload_bytes,
            self.config.max_stable_memory_bytes,
        );
        let Some(c) = self.canisters.get_mut(&to) else {
            return;
        };
        let Some(cb) = c.callbacks.remove(&callback) else {
            return;
        };
        c.system.cycles = c.system.cycles.saturating_add(refund);
        let Some(context) = c.contexts.get_mut(&cb.context) else {
            return;
        };
        context.outstanding = context.outstanding.saturating_sub(1);
        let caller = match context.origin {
            Origin::Ingress(_, caller) | Origin::Canister { caller, .. } => caller,
            Origin::System => to,
        };
        let stale = cb.generation != c.generation || c.installed.is_none();
        if stale {
            let reject = Reject::new(
                RejectCode::CanisterError,
                format!("Canister {to} was upgraded or uninstalled while awaiting a response"),
            );
            self.close_if_done(to, cb.context, Some(reject));
            return;
        }
        let (kind, (fun, env), arg, reject) = match result {
            Ok(reply) => (ApiKind::ReplyCallback, cb.reply, reply, None),
            Err(reject) => (ApiKind::RejectCallback, cb.reject, Vec::new(), Some(reject)),
        };
        let mut ctx = ExecCtx::new(kind, caller, time, limit);
        ctx.arg = arg;
        ctx.reject = reject;
        ctx.cycles_refunded = refund;
        ctx.cycles_available = context.cycles_available;
        ctx.already_responded = context.responded;
        ctx.context_instructions = context.instructions;
        ctx.max_reply_bytes = max_reply;
        ctx.max_payload_bytes = max_payload;
        ctx.max_stable_bytes = max_stable;
        let Some(installed) = c.installed.as_mut() else {
            return;
        };
        let exec = installed.execute(
            &mut c.system,
            Entry::Callback { fun, env },
            ctx,
            Persist::All,
        );
        if exec.trap.is_some() {
            if let Some((fun, env)) = cb.cleanup {
                let cleanup = ExecCtx::new(ApiKind::Cleanup, caller, time, limit);
                let done = installed.execute(
                    &mut c.system,
                    Entry::Callback { fun, env },
                    cleanup,
                    Persist::All,
                );
                if let Some(t) = done.trap {
                    tracing::warn!(canister = %to, "cleanup callback trapped: {t}");
                }
            }
        }
        c.debug_log.extend(installed.debug_log());
        self.finish(to, cb.context, exec, true);
    }

    fn run_timer(&mut self, canister: Principal) {
        let time = self.time;
        let limit = self.config.update_instruction_limit;
        let Some(c) = self.canisters.get_mut(&canister) else {
            return;
        };
        if c.status != CanisterStatus::Running {
            return;
        }
        let Some(installed) = c.installed.as_mut() else {
            return;
        };
        let context = c.next_id + 1;
        c.next_id = context;
        c.contexts.insert(
            context,
            CallContext {
                origin: Origin::System,
                responded: true,
                cycles_available: 0,
                instructions: 0,
                outstanding: 0,
            },
        );
        let mut ctx = ExecCtx::new(ApiKind::Timer, canister, time, limit);
        ctx.max_payload_bytes = self.config.max_payload_bytes;
        ctx.max_stable_bytes = self.config.max_stable_memory_bytes;
        let exec = installed.execute(
            &mut c.system,
            Entry::Export("canister_global_timer"),
            ctx,
            Persist::All,
        );
        c.debug_log.extend(installed.debug_log());
        if let Some(t) = &exec.trap {
            tracing::debug!(canister = %canister, "global timer trapped: {t}");
        }
        self.finish(canister, context, exec, true);
    }

    /// Applies a finished execution: its calls, its response, and the call context's end.
    fn finish(&mut self, id: Principal, context: u64, exec: Execution, persisted: bool) {
        let time = self.time;
        let Some(c) = self.canisters.get_mut(&id) else {
            return;
        };
        let generation = c.generation;
        if let Some(ctx) = c.contexts.get_mut(&context) {
            ctx.instructions = ctx.instructions.saturating_add(exec.instructions);
        }
        if let Some(trap) = exec.trap {
            let reject = trap_reject(id, &trap);
            self.close_if_done(id, context, Some(reject));
            return;
        }
        let ExecCtx {
            response,
            calls,
            pending_call,
            cycles_available,
            ..
        } = exec.ctx;
        if persisted {
            c.system.version += 1;
            if let Some(p) = pending_call {
                c.system.cycles = c.system.cycles.saturating_add(p.cycles);
            }
        }
        for call in calls.into_iter().filter(|_| persisted) {
            let callback = c.new_id();
            c.callbacks.insert(
                callback,
                Callback {
                    context,
                    reply: call.reply,
                    reject: call.reject,
                    cleanup: call.cleanup,
                    generation,
                },
            );
            if let Some(ctx) = c.contexts.get_mut(&context) {
                ctx.outstanding += 1;
            }
            let deadline = call
                .timeout_seconds
                .map_or(0, |s| time.saturating_add(u64::from(s) * 1_000_000_000));
            self.queue.push_back(Task::Request {
                from: id,
                callback,
                to: call.callee,
                method: call.method,
                arg: call.arg,
                cycles: call.cycles,
                deadline,
            });
        }
        let c = self.canisters.get_mut(&id);
        if let Some(ctx) = c.and_then(|c| c.contexts.get_mut(&context)) {
            if persisted {
                ctx.cycles_available = cycles_available;
            }
        }
        if let Some(response) = response {
            self.respond(id, context, response);
        }
        self.close_if_done(id, context, None);
    }

    /// Answers the origin of a call context (once).
    fn respond(&mut self, id: Principal, context: u64, result: CallResult) {
        let Some(c) = self.canisters.get_mut(&id) else {
            return;
        };
        let Some(ctx) = c.contexts.get_mut(&context) else {
            return;
        };
        if ctx.responded {
            return;
        }
        ctx.responded = true;
        let refund = std::mem::take(&mut ctx.cycles_available);
        let instructions = ctx.instructions;
        match ctx.origin {
            Origin::Ingress(message, _) => {
                self.ingress.insert(message, Some(result));
                self.ingress_instructions.insert(message, instructions);
            }
            Origin::Canister { caller, callback } => self.queue.push_back(Task::Response {
                to: caller,
                callback,
                result,
                refund,
            }),
            Origin::System => {}
        }
    }

    /// Closes a call context that awaits nothing more, answering it if nobody did.
    fn close_if_done(&mut self, id: Principal, context: u64, trap: Option<Reject>) {
        let open = self
            .canisters
            .get(&id)
            .and_then(|c| c.contexts.get(&context))
            .map(|ctx| (ctx.outstanding, ctx.responded));
        let Some((outstanding, responded)) = open else {
            return;
        };
        if outstanding > 0 {
            return;
        }
        if !responded {
            let reject = trap.unwrap_or_else(|| {
                Reject::new(
                    RejectCode::CanisterError,
                    format!("Canister {id} did not produce a response"),
                )
            });
            self.respond(id, context, Err(reject));
        }
        if let Some(c) = self.canisters.get_mut(&id) {
            if let Some(ctx) = c.contexts.remove(&context) {
                if let Origin::Ingress(message, _) = ctx.origin {
                    self.ingress_instructions.insert(message, ctx.instructions);
                }
            }
            if c.status == CanisterStatus::Stopping && c.contexts.is_empty() {
                c.status = CanisterStatus::Stopped;
            }
        }
    }

    /// The management canister's methods that canisters call (see [`crate::management`]):
    /// `caller` is the calling canister. Returns the reply or reject; a reject changes nothing.
    fn management_call(&mut self, caller: Principal, method: &str, arg: &[u8]) -> CallResult {
        use crate::management::{
            reject_code, CanisterIdRecord, InstallCodeArgs, UpdateSettingsArgs,
        };
        fn decode<T: for<'de> candid::Deserialize<'de> + candid::CandidType>(
            method: &str,
            arg: &[u8],
        ) -> Result<T, Reject> {
            candid::decode_one(arg).map_err(|e| {
                Reject::new(
                    RejectCode::CanisterError,
                    format!("Error decoding candid for the management canister's {method}: {e}"),
                )
            })
        }
        let ic_reject = |e: IcError| Reject::new(reject_code(&e).0, e.to_string());
        let encode = |r: Result<Vec<u8>, candid::Error>| {
            r.map_err(|e| Reject::new(RejectCode::SysFatal, format!("encoding the reply: {e}")))
        };
        match method {
            "raw_rand" => {
                self.rand_counter += 1;
                let mut h = Sha256::new();
                h.update(b"emc-embedded-ic raw_rand");
                h.update(self.rand_counter.to_be_bytes());
                let bytes: Vec<u8> = h.finalize().to_vec();
                encode(candid::encode_one(bytes))
            }
            "install_code" => {
                let a: InstallCodeArgs = decode(method, arg)?;
                if a.canister_id == caller {
                    return Err(Reject::new(
                        RejectCode::CanisterError,
                        format!(
                            "Canister {caller} cannot install code on itself: it is awaiting this call"
                        ),
                    ));
                }
                self.install_code(a.canister_id, a.mode.mode(), &a.wasm_module, a.arg, caller)
                    .map_err(ic_reject)?;
                encode(candid::encode_args(()))
            }
            "update_settings" => {
                let a: UpdateSettingsArgs = decode(method, arg)?;
                // Controllers are checked even when nothing changes.
                let current = self
                    .controllers(a.canister_id)
                    .ok_or_else(|| ic_reject(IcError::CanisterNotFound(a.canister_id)))?;
                let controllers = a.settings.controllers.unwrap_or(current);
                self.set_controllers(a.canister_id, caller, controllers)
                    .map_err(ic_reject)?;
                encode(candid::encode_args(()))
            }
            "canister_status" => {
                let CanisterIdRecord { canister_id } = decode(method, arg)?;
                let status = self
                    .canister_status_record(canister_id, caller)
                    .map_err(ic_reject)?;
                encode(candid::encode_one(status))
            }
            "start_canister" => {
                let CanisterIdRecord { canister_id } = decode(method, arg)?;
                self.start_canister(canister_id, caller).map_err(ic_reject)?;
                encode(candid::encode_args(()))
            }
            "stop_canister" => {
                let CanisterIdRecord { canister_id } = decode(method, arg)?;
                if canister_id == caller {
                    return Err(Reject::new(
                        RejectCode::CanisterError,
                        format!("Canister {caller} cannot stop itself: it is awaiting this call"),
                    ));
                }
                let c = self.controlled(canister_id, caller).map_err(ic_reject)?;
                if !c.contexts.is_empty() {
                    return Err(Reject::new(
                        RejectCode::SysTransient,
                        format!(
                            "Canister {canister_id} has open calls; the embedded IC stops a canister for a canister caller only when it has none (retry later)"
                        ),
                    ));
                }
                c.status = CanisterStatus::Stopped;
                encode(candid::encode_args(()))
            }
            other => Err(Reject::new(
                RejectCode::DestinationInvalid,
                format!(
                    "Management canister has no method '{other}' (the embedded IC serves canisters: raw_rand, install_code, update_settings, canister_status, start_canister, stop_canister)"
                ),
            )),
        }
    }

    // --- snapshots -----------------------------------------------------------------------------

    /// The whole state, for a snapshot. Only at a quiescent point: with messages queued or
    /// calls open (their call contexts and callbacks live in wasm closures and are not saved)
    /// it returns [`IcError::NotQuiescent`]; run rounds and try again.
    pub fn export_state(&self) -> Result<IcState, IcError> {
        if !self.queue.is_empty() {
            return Err(IcError::NotQuiescent(format!(
                "{} messages are queued",
                self.queue.len()
            )));
        }
        let mut canisters = Vec::with_capacity(self.canisters.len());
        for (id, c) in &self.canisters {
            if !c.contexts.is_empty() || !c.callbacks.is_empty() {
                return Err(IcError::NotQuiescent(format!(
                    "canister {id} has {} open calls",
                    c.contexts.len().max(c.callbacks.len())
                )));
            }
            let module = c.installed.as_ref().map(|i| {
                let (heap, globals) = i.save();
                ModuleState {
                    wasm: i.source.clone(),
                    heap,
                    globals,
                }
            });
            canisters.push(CanisterState {
                id: *id,
                controllers: c.system.controllers.clone(),
                cycles: c.system.cycles,
                certified_data: c.system.certified_data.clone(),
                global_timer: c.system.global_timer,
                stable: c.system.stable.clone(),
                running: c.status != CanisterStatus::Stopped,
                version: c.system.version,
                module,
            });
        }
        Ok(IcState {
            time: self.time,
            next_canister: self.next_canister,
            next_message: self.next_message,
            rand_counter: self.rand_counter,
            canisters,
        })
    }

    /// An embedded IC with a saved state: every module is instantiated again and gets its heap
    /// and globals back. Ingress results and debug logs are not part of the state.
    pub fn import_state(state: IcState, config: IcConfig) -> Result<Self, IcError> {
        let mut ic = Self::with_config(config);
        ic.time = state.time;
        ic.next_canister = state.next_canister;
        ic.next_message = state.next_message;
        ic.rand_counter = state.rand_counter;
        for c in state.canisters {
            let installed = match &c.module {
                Some(m) => Some(Installed::restore(
                    &ic.engine,
                    c.id,
                    &m.wasm,
                    ic.config.max_decompressed_module_bytes,
                    ic.config.trace_debug_print,
                    &m.heap,
                    &m.globals,
                )?),
                None => None,
            };
            let generation = u64::from(installed.is_some());
            ic.canisters.insert(
                c.id,
                Canister {
                    system: SystemState {
                        stable: c.stable,
                        certified_data: c.certified_data,
                        global_timer: c.global_timer,
                        cycles: c.cycles,
                        controllers: c.controllers,
                        version: c.version,
                    },
                    installed,
                    status: if c.running {
                        CanisterStatus::Running
                    } else {
                        CanisterStatus::Stopped
                    },
                    generation,
                    contexts: BTreeMap::new(),
                    callbacks: BTreeMap::new(),
                    next_id: 0,
                    debug_log: Vec::new(),
                },
            );
        }
        Ok(ic)
    }

    /// Extracts the candid interface a canister module (gzipped or not) exports through
    /// `get_candid_pointer` (what `ic_cdk::export_candid!()` generates), without installing it.
    pub fn candid_interface(wasm: &[u8]) -> Result<String, IcError> {
        let engine = engine();
        let max = IcConfig::default().max_decompressed_module_bytes;
        let mut module = Installed::new(&engine, Principal::anonymous(), wasm, max, false)?;
        let ptr = module
            .call_i32_export("get_candid_pointer", 10_000_000_000)
            .map_err(IcError::InvalidWasm)? as u32 as usize;
        let mut out = Vec::new();
        let mut at = ptr;
        loop {
            let chunk = module
                .read_heap(at, 1)
                .ok_or_else(|| IcError::InvalidWasm("candid string runs past the heap".into()))?;
            if chunk[0] == 0 {
                break;
            }
            out.push(chunk[0]);
            at += 1;
        }
        String::from_utf8(out)
            .map_err(|_| IcError::InvalidWasm("candid interface is not UTF-8".into()))
    }
}

/// The export an update-style call runs, its kind, and what a success keeps.
fn update_export(c: &Canister, method: &str) -> Option<(String, ApiKind, Persist)> {
    let installed = c.installed.as_ref()?;
    let update = format!("canister_update {method}");
    if installed.has_export(&update) {
        return Some((update, ApiKind::Update, Persist::All));
    }
    for prefix in ["canister_query", "canister_composite_query"] {
        let query = format!("{prefix} {method}");
        if installed.has_export(&query) {
            return Some((query, ApiKind::ReplicatedQuery, Persist::Nothing));
        }
    }
    None
}

fn not_found(id: Principal) -> Reject {
    Reject::new(
        RejectCode::DestinationInvalid,
        format!("Canister {id} not found"),
    )
}

fn empty(id: Principal) -> Reject {
    Reject::new(
        RejectCode::DestinationInvalid,
        format!("Canister {id} has no wasm module installed"),
    )
}
