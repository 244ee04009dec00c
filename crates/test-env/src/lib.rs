//! The environment every canister test runs in.
//!
//! A test is written once against [`TestEnv`] and runs on every available backend:
//! [`EmbeddedEnv`] (always: the in-process embedded IC) and [`PocketIcEnv`] (when the
//! environment variable `POCKET_IC_BIN` names a PocketIC server binary; otherwise it is
//! skipped with a message saying so). [`all`] returns them.
//!
//! Canister wasm comes from the fixed folder `target/canisters/` that
//! `scripts/build-canisters.sh` fills (see [`canister_wasm`]).

use candid::utils::{ArgumentDecoder, ArgumentEncoder};
use candid::Principal;
use emc_embedded_ic::{EmbeddedIc, IcConfig};
pub use emc_embedded_ic::{Reject, RejectCode};
use std::path::PathBuf;
use std::time::Duration;

/// What a canister test needs from an Internet Computer.
pub trait TestEnv {
    /// The backend's name, for messages.
    fn name(&self) -> &'static str;
    /// Creates a canister with these controllers and installs `wasm` with `init_arg`.
    fn install(
        &mut self,
        wasm: &[u8],
        init_arg: Vec<u8>,
        controllers: Vec<Principal>,
    ) -> Result<Principal, String>;
    /// Upgrades `canister` (pre_upgrade, new module, post_upgrade with `arg`) as `sender`.
    fn upgrade(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), String>;
    /// Reinstalls `canister`: all state is wiped and init runs with `arg`.
    fn reinstall(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), String>;
    /// An update call that runs to completion.
    fn update(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Reject>;
    /// A query call.
    fn query(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Reject>;
    /// Moves the clock forward and runs a round (due timers and queued messages).
    fn advance_time(&mut self, by: Duration);
    /// Runs a round without moving the clock.
    fn tick(&mut self);
    /// The current time, nanoseconds since the Unix epoch.
    fn time_nanos(&self) -> u64;
    fn stop(&mut self, canister: Principal, sender: Principal) -> Result<(), String>;
    fn start(&mut self, canister: Principal, sender: Principal) -> Result<(), String>;
    /// Instructions of the last ingress or query execution, where the backend can tell.
    fn last_instructions(&self) -> Option<u64>;
}

/// Candid conveniences on top of any [`TestEnv`].
pub trait TestEnvExt: TestEnv {
    /// An update with candid arguments and results.
    fn update_candid<A: ArgumentEncoder, R: for<'a> ArgumentDecoder<'a>>(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        args: A,
    ) -> Result<R, Reject> {
        let arg = candid::encode_args(args).map_err(encode_reject)?;
        let bytes = self.update(canister, sender, method, arg)?;
        candid::decode_args(&bytes).map_err(decode_reject)
    }

    /// A query with candid arguments and results.
    fn query_candid<A: ArgumentEncoder, R: for<'a> ArgumentDecoder<'a>>(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        args: A,
    ) -> Result<R, Reject> {
        let arg = candid::encode_args(args).map_err(encode_reject)?;
        let bytes = self.query(canister, sender, method, arg)?;
        candid::decode_args(&bytes).map_err(decode_reject)
    }
}

impl<T: TestEnv + ?Sized> TestEnvExt for T {}

fn encode_reject(e: candid::Error) -> Reject {
    Reject::new(
        RejectCode::SysFatal,
        format!("test could not encode its arguments: {e}"),
    )
}

fn decode_reject(e: candid::Error) -> Reject {
    Reject::new(
        RejectCode::SysFatal,
        format!("test could not decode the reply: {e}"),
    )
}

/// Every backend available here: the embedded IC, and PocketIC when `POCKET_IC_BIN` is set.
pub fn all() -> Vec<Box<dyn TestEnv>> {
    let mut envs: Vec<Box<dyn TestEnv>> = vec![Box::new(EmbeddedEnv::new())];
    match PocketIcEnv::from_env() {
        Ok(env) => envs.push(Box::new(env)),
        Err(why) => eprintln!("PocketIC backend skipped: {why}"),
    }
    envs
}

/// The embedded IC as a [`TestEnv`].
pub struct EmbeddedEnv {
    pub ic: EmbeddedIc,
}

impl EmbeddedEnv {
    pub fn new() -> Self {
        EmbeddedEnv {
            ic: EmbeddedIc::new(),
        }
    }

    pub fn with_config(config: IcConfig) -> Self {
        EmbeddedEnv {
            ic: EmbeddedIc::with_config(config),
        }
    }
}

impl Default for EmbeddedEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv for EmbeddedEnv {
    fn name(&self) -> &'static str {
        "embedded-ic"
    }

    fn install(
        &mut self,
        wasm: &[u8],
        init_arg: Vec<u8>,
        controllers: Vec<Principal>,
    ) -> Result<Principal, String> {
        self.ic
            .install_canister(wasm, init_arg, controllers)
            .map_err(|e| e.to_string())
    }

    fn upgrade(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), String> {
        self.ic
            .upgrade_canister(canister, wasm, arg, sender)
            .map_err(|e| e.to_string())
    }

    fn reinstall(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), String> {
        self.ic
            .reinstall_canister(canister, wasm, arg, sender)
            .map_err(|e| e.to_string())
    }

    fn update(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Reject> {
        self.ic.update_call(canister, sender, method, arg)
    }

    fn query(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Reject> {
        self.ic.query_call(canister, sender, method, arg)
    }

    fn advance_time(&mut self, by: Duration) {
        self.ic.advance_time(by);
        self.ic.tick();
    }

    fn tick(&mut self) {
        self.ic.tick();
    }

    fn time_nanos(&self) -> u64 {
        self.ic.time()
    }

    fn stop(&mut self, canister: Principal, sender: Principal) -> Result<(), String> {
        self.ic
            .stop_canister(canister, sender)
            .map_err(|e| e.to_string())
    }

    fn start(&mut self, canister: Principal, sender: Principal) -> Result<(), String> {
        self.ic
            .start_canister(canister, sender)
            .map_err(|e| e.to_string())
    }

    fn last_instructions(&self) -> Option<u64> {
        Some(self.ic.last_instructions())
    }
}

/// PocketIC as a [`TestEnv`] (needs a PocketIC server binary in `POCKET_IC_BIN`).
pub struct PocketIcEnv {
    #[cfg(feature = "pocket-ic")]
    pic: pocket_ic::PocketIc,
}

impl PocketIcEnv {
    /// Starts PocketIC if `POCKET_IC_BIN` names an existing file; says why not otherwise.
    pub fn from_env() -> Result<Self, String> {
        let Some(bin) = std::env::var_os("POCKET_IC_BIN") else {
            return Err(
                "POCKET_IC_BIN is not set (point it at a PocketIC server binary to run \
                        these tests on PocketIC too)"
                    .into(),
            );
        };
        if !PathBuf::from(&bin).is_file() {
            return Err(format!(
                "POCKET_IC_BIN={} is not a file",
                PathBuf::from(bin).display()
            ));
        }
        Self::start()
    }

    #[cfg(feature = "pocket-ic")]
    fn start() -> Result<Self, String> {
        let pic = std::panic::catch_unwind(pocket_ic::PocketIc::new)
            .map_err(|_| "the PocketIC server could not be started".to_string())?;
        Ok(PocketIcEnv { pic })
    }

    #[cfg(not(feature = "pocket-ic"))]
    fn start() -> Result<Self, String> {
        Err(
            "POCKET_IC_BIN is set but this build has no PocketIC backend: run the tests with \
             `--features emc-test-env/pocket-ic`"
                .into(),
        )
    }
}

#[cfg(feature = "pocket-ic")]
fn from_pocket(r: pocket_ic::RejectResponse) -> Reject {
    let code = RejectCode::from_u32(r.reject_code as u32).unwrap_or(RejectCode::SysUnknown);
    Reject::new(code, r.reject_message)
}

#[cfg(feature = "pocket-ic")]
impl TestEnv for PocketIcEnv {
    fn name(&self) -> &'static str {
        "pocket-ic"
    }

    fn install(
        &mut self,
        wasm: &[u8],
        init_arg: Vec<u8>,
        controllers: Vec<Principal>,
    ) -> Result<Principal, String> {
        let sender = controllers.first().copied();
        let settings = pocket_ic::CanisterSettings {
            controllers: Some(controllers),
            ..Default::default()
        };
        let id = self
            .pic
            .create_canister_with_settings(sender, Some(settings));
        self.pic.add_cycles(id, 100_000_000_000_000);
        let pic = &self.pic;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pic.install_canister(id, wasm.to_vec(), init_arg, sender)
        }))
        .map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "install failed".to_string())
        })?;
        Ok(id)
    }

    fn upgrade(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), String> {
        self.pic
            .upgrade_canister(canister, wasm.to_vec(), arg, Some(sender))
            .map_err(|e| e.to_string())
    }

    fn reinstall(
        &mut self,
        canister: Principal,
        wasm: &[u8],
        arg: Vec<u8>,
        sender: Principal,
    ) -> Result<(), String> {
        self.pic
            .reinstall_canister(canister, wasm.to_vec(), arg, Some(sender))
            .map_err(|e| e.to_string())
    }

    fn update(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Reject> {
        self.pic
            .update_call(canister, sender, method, arg)
            .map_err(from_pocket)
    }

    fn query(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, Reject> {
        self.pic
            .query_call(canister, sender, method, arg)
            .map_err(from_pocket)
    }

    fn advance_time(&mut self, by: Duration) {
        self.pic.advance_time(by);
        self.pic.tick();
    }

    fn tick(&mut self) {
        self.pic.tick();
    }

    fn time_nanos(&self) -> u64 {
        self.pic.get_time().as_nanos_since_unix_epoch()
    }

    fn stop(&mut self, canister: Principal, sender: Principal) -> Result<(), String> {
        self.pic
            .stop_canister(canister, Some(sender))
            .map_err(|e| e.to_string())
    }

    fn start(&mut self, canister: Principal, sender: Principal) -> Result<(), String> {
        self.pic
            .start_canister(canister, Some(sender))
            .map_err(|e| e.to_string())
    }

    fn last_instructions(&self) -> Option<u64> {
        None
    }
}

#[cfg(not(feature = "pocket-ic"))]
impl TestEnv for PocketIcEnv {
    fn name(&self) -> &'static str {
        "pocket-ic (not compiled)"
    }
    fn install(&mut self, _: &[u8], _: Vec<u8>, _: Vec<Principal>) -> Result<Principal, String> {
        Err("no PocketIC backend in this build".into())
    }
    fn upgrade(&mut self, _: Principal, _: &[u8], _: Vec<u8>, _: Principal) -> Result<(), String> {
        Err("no PocketIC backend in this build".into())
    }
    fn reinstall(
        &mut self,
        _: Principal,
        _: &[u8],
        _: Vec<u8>,
        _: Principal,
    ) -> Result<(), String> {
        Err("no PocketIC backend in this build".into())
    }
    fn update(
        &mut self,
        _: Principal,
        _: Principal,
        _: &str,
        _: Vec<u8>,
    ) -> Result<Vec<u8>, Reject> {
        Err(Reject::new(
            RejectCode::SysFatal,
            "no PocketIC backend in this build",
        ))
    }
    fn query(
        &mut self,
        _: Principal,
        _: Principal,
        _: &str,
        _: Vec<u8>,
    ) -> Result<Vec<u8>, Reject> {
        Err(Reject::new(
            RejectCode::SysFatal,
            "no PocketIC backend in this build",
        ))
    }
    fn advance_time(&mut self, _: Duration) {}
    fn tick(&mut self) {}
    fn time_nanos(&self) -> u64 {
        0
    }
    fn stop(&mut self, _: Principal, _: Principal) -> Result<(), String> {
        Err("no PocketIC backend in this build".into())
    }
    fn start(&mut self, _: Principal, _: Principal) -> Result<(), String> {
        Err("no PocketIC backend in this build".into())
    }
    fn last_instructions(&self) -> Option<u64> {
        None
    }
}

/// The folder the canister build script writes to: `<workspace>/target/canisters`, or
/// `EMC_CANISTER_DIR` when set.
pub fn canister_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EMC_CANISTER_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/canisters")
}

/// The wasm of canister `name` (e.g. "ledger", "test-canister") from [`canister_dir`].
///
/// # Panics
/// When the file is missing, with the command that builds it: a test cannot run without it.
pub fn canister_wasm(name: &str) -> Vec<u8> {
    let path = canister_dir().join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => panic!(
            "canister wasm {} is missing ({e}); build the canisters first with \
             `scripts/build-canisters.sh` (the README's test command does this)",
            path.display()
        ),
    }
}

/// A distinct, stable test user.
pub fn user(n: u64) -> Principal {
    emc_embedded_ic::user_principal(n)
}
