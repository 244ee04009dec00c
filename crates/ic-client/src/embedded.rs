//! [`EmbeddedHost`]: the embedded IC on a dedicated thread, and [`EmbeddedClient`], its
//! [`IcClient`].
//!
//! `EmbeddedIc` is driven from one thread. The host thread owns it and waits for commands on
//! a channel; every command carries a tokio oneshot sender for its reply, so async callers
//! await the reply without blocking their runtime, and sync callers block on it
//! ([`HostCall::wait`]). An update is submitted (`submit_update`) and its reply sent once a
//! round has produced its result, so the thread never blocks on one caller and many updates
//! can be in flight at once.
//!
//! The clock is either the wall clock (the default: before every round the IC's time is set
//! to the real UNIX time, and a round runs every tick interval, so timers fire on time) or
//! manual (time moves only through [`EmbeddedHost::advance_time`] / [`EmbeddedHost::set_time`];
//! rounds still run whenever messages are queued).

use crate::{IcClient, IcError};
use async_trait::async_trait;
use candid::Principal;
use emc_embedded_ic::{EmbeddedIc, IcConfig, MessageId, Reject, RejectCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

/// How the embedded IC's clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The IC's time follows the real UNIX time; a round runs every tick interval.
    WallClock,
    /// Time moves only when told ([`EmbeddedHost::advance_time`], [`EmbeddedHost::set_time`]).
    Manual,
}

/// Settings of an [`EmbeddedHost`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The embedded IC's limits (the IC's by default).
    pub ic: IcConfig,
    /// Wall clock or manual clock.
    pub clock: Clock,
    /// Time between two rounds on the wall clock (default 20 ms). Updates do not wait for it:
    /// a round runs as soon as one is submitted.
    pub tick_interval: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            ic: IcConfig::default(),
            clock: Clock::WallClock,
            tick_interval: Duration::from_millis(20),
        }
    }
}

impl HostConfig {
    /// Default settings with a manual clock (tests).
    pub fn manual() -> Self {
        HostConfig {
            clock: Clock::Manual,
            ..HostConfig::default()
        }
    }
}

/// Commands handled between two rounds at most.
const MAX_BATCH: usize = 1_000;

type Reply<T> = oneshot::Sender<Result<T, IcError>>;
type Job = Box<dyn FnOnce(&mut EmbeddedIc) + Send>;

enum Command {
    Query {
        canister: Principal,
        sender: Principal,
        method: String,
        arg: Vec<u8>,
        reply: Reply<Vec<u8>>,
    },
    Update {
        canister: Principal,
        sender: Principal,
        method: String,
        arg: Vec<u8>,
        reply: Reply<Vec<u8>>,
    },
    /// Runs on the IC thread; the closure sends its own reply.
    Run(Job),
    Shutdown,
}

fn stopped() -> IcError {
    IcError::Transport("the embedded IC host has stopped".into())
}

/// The reply to a host operation: `.await` it in async code, or [`HostCall::wait`] for it in
/// sync code.
#[must_use = "a host call does nothing visible unless its reply is awaited"]
pub struct HostCall<T> {
    state: CallState<T>,
}

enum CallState<T> {
    Waiting(oneshot::Receiver<Result<T, IcError>>),
    Failed(Option<IcError>),
}

impl<T> HostCall<T> {
    fn waiting(rx: oneshot::Receiver<Result<T, IcError>>) -> Self {
        HostCall {
            state: CallState::Waiting(rx),
        }
    }

    fn failed(e: IcError) -> Self {
        HostCall {
            state: CallState::Failed(Some(e)),
        }
    }

    /// Blocks the calling thread until the reply arrives. Works in any context, a tokio
    /// worker included (where it blocks that worker: prefer `.await` there).
    pub fn wait(self) -> Result<T, IcError> {
        futures::executor::block_on(self)
    }
}

impl<T> Future for HostCall<T> {
    type Output = Result<T, IcError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both states are Unpin (a oneshot receiver, an option).
        let this = self.get_mut();
        match &mut this.state {
            CallState::Waiting(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(result)) => Poll::Ready(result),
                Poll::Ready(Err(_)) => Poll::Ready(Err(stopped())),
                Poll::Pending => Poll::Pending,
            },
            CallState::Failed(e) => Poll::Ready(Err(e.take().unwrap_or_else(stopped))),
        }
    }
}

/// The embedded IC on its own thread. Dropping it (or [`EmbeddedHost::shutdown`]) stops the
/// thread; calls still in flight then fail with [`IcError::Transport`], and so do later calls
/// of its clients.
pub struct EmbeddedHost {
    tx: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
    clock: Clock,
}

impl std::fmt::Debug for EmbeddedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedHost")
            .field("clock", &self.clock)
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl EmbeddedHost {
    /// Starts the host thread with a fresh embedded IC.
    pub fn start(config: HostConfig) -> Result<Self, IcError> {
        let (tx, rx) = mpsc::channel();
        let clock = config.clock;
        let thread = std::thread::Builder::new()
            .name("embedded-ic".into())
            .spawn(move || HostThread::new(config).run(rx))
            .map_err(|e| IcError::Host(format!("cannot start the host thread: {e}")))?;
        info!(?clock, "embedded IC host started");
        Ok(EmbeddedHost {
            tx,
            thread: Some(thread),
            clock,
        })
    }

    /// A host on the wall clock with the IC's default limits.
    pub fn wall_clock() -> Result<Self, IcError> {
        Self::start(HostConfig::default())
    }

    /// A host on a manual clock with the IC's default limits.
    pub fn manual_clock() -> Result<Self, IcError> {
        Self::start(HostConfig::manual())
    }

    /// The clock mode.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// A client that calls as `caller`. Clients are cheap (a channel sender) and can be
    /// cloned and shared; calls of many clients may be in flight at once.
    pub fn client(&self, caller: Principal) -> EmbeddedClient {
        EmbeddedClient {
            tx: self.tx.clone(),
            caller,
        }
    }

    /// Runs `f` on the IC thread with the embedded IC, for what this interface does not cover
    /// (upgrades, debug logs, instruction counts, …). Updates submitted by `f` itself are not
    /// tracked: use [`EmbeddedIc::update_call`] there. A panic in `f` stops the host thread
    /// (later calls fail with [`IcError::Transport`]).
    pub fn with_ic<T, F>(&self, f: F) -> HostCall<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut EmbeddedIc) -> Result<T, IcError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |ic| {
            // The caller may have stopped waiting: nothing to do then.
            let _ = reply.send(f(ic));
        });
        match self.tx.send(Command::Run(job)) {
            Ok(()) => HostCall::waiting(rx),
            Err(_) => HostCall::failed(stopped()),
        }
    }

    /// Creates a canister controlled by `controller`, installs `wasm` with the candid
    /// `init_arg` (as `controller`) and returns its id.
    pub fn install_canister(
        &self,
        wasm: Vec<u8>,
        init_arg: Vec<u8>,
        controller: Principal,
    ) -> HostCall<Principal> {
        self.with_ic(move |ic| {
            let id = ic
                .install_canister(&wasm, init_arg, vec![controller])
                .map_err(|e| IcError::Host(e.to_string()))?;
            info!(canister = %id, %controller, wasm_bytes = wasm.len(), "installed a canister");
            Ok(id)
        })
    }

    /// The IC's current time, ns since the UNIX epoch.
    pub fn time(&self) -> HostCall<u64> {
        self.with_ic(|ic| Ok(ic.time()))
    }

    /// Manual clock only: moves the clock forward by `by` and runs a round (due timers and
    /// queued messages) before replying.
    pub fn advance_time(&self, by: Duration) -> HostCall<()> {
        if let Err(e) = self.require_manual("advance_time") {
            return HostCall::failed(e);
        }
        self.with_ic(move |ic| {
            ic.advance_time(by);
            ic.tick();
            Ok(())
        })
    }

    /// Manual clock only: sets the clock (time never goes backwards: an earlier value is
    /// ignored) and runs a round before replying.
    pub fn set_time(&self, nanos: u64) -> HostCall<()> {
        if let Err(e) = self.require_manual("set_time") {
            return HostCall::failed(e);
        }
        self.with_ic(move |ic| {
            ic.set_time(nanos);
            ic.tick();
            Ok(())
        })
    }

    /// Runs a round now (due timers, then every queued message).
    pub fn tick(&self) -> HostCall<()> {
        self.with_ic(|ic| {
            ic.tick();
            Ok(())
        })
    }

    fn require_manual(&self, what: &str) -> Result<(), IcError> {
        match self.clock {
            Clock::Manual => Ok(()),
            Clock::WallClock => Err(IcError::Config(format!(
                "{what} needs a manual clock; this host follows the wall clock"
            ))),
        }
    }

    /// Stops the host thread and waits for it. Calls in flight fail with
    /// [`IcError::Transport`].
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // The thread may be gone already (it only ends on Shutdown or a panic).
            let _ = self.tx.send(Command::Shutdown);
            if thread.join().is_err() {
                warn!("the embedded IC host thread panicked");
            } else {
                info!("embedded IC host stopped");
            }
        }
    }
}

impl Drop for EmbeddedHost {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An [`IcClient`] of an [`EmbeddedHost`], calling as one principal.
#[derive(Clone, Debug)]
pub struct EmbeddedClient {
    tx: mpsc::Sender<Command>,
    caller: Principal,
}

impl EmbeddedClient {
    /// The same host, calling as `caller`.
    pub fn with_caller(&self, caller: Principal) -> EmbeddedClient {
        EmbeddedClient {
            tx: self.tx.clone(),
            caller,
        }
    }

    /// Runs `f` on the IC thread with the embedded IC, as [`EmbeddedHost::with_ic`] does
    /// (for components that hold a client, not the host: a replica serving this IC over HTTP).
    pub fn with_ic<T, F>(&self, f: F) -> HostCall<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut EmbeddedIc) -> Result<T, IcError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |ic| {
            let _ = reply.send(f(ic));
        });
        match self.tx.send(Command::Run(job)) {
            Ok(()) => HostCall::waiting(rx),
            Err(_) => HostCall::failed(stopped()),
        }
    }

    fn send(&self, make: impl FnOnce(Reply<Vec<u8>>) -> Command) -> HostCall<Vec<u8>> {
        let (reply, rx) = oneshot::channel();
        match self.tx.send(make(reply)) {
            Ok(()) => HostCall::waiting(rx),
            Err(_) => HostCall::failed(stopped()),
        }
    }
}

#[async_trait]
impl IcClient for EmbeddedClient {
    fn principal(&self) -> Principal {
        self.caller
    }

    async fn query(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError> {
        self.send(|reply| Command::Query {
            canister,
            sender: self.caller,
            method: method.to_owned(),
            arg,
            reply,
        })
        .await
    }

    async fn update(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError> {
        self.send(|reply| Command::Update {
            canister,
            sender: self.caller,
            method: method.to_owned(),
            arg,
            reply,
        })
        .await
    }
}

/// An update whose result the host thread waits for.
struct InFlight {
    id: MessageId,
    method: String,
    rounds: u32,
    reply: Reply<Vec<u8>>,
}

/// The state of the host thread.
struct HostThread {
    ic: EmbeddedIc,
    clock: Clock,
    tick_interval: Duration,
    max_rounds: u32,
    in_flight: Vec<InFlight>,
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl HostThread {
    fn new(config: HostConfig) -> Self {
        let max_rounds = config.ic.max_rounds_per_call;
        let mut ic = EmbeddedIc::with_config(config.ic);
        if config.clock == Clock::WallClock {
            ic.set_time(unix_nanos());
        }
        HostThread {
            ic,
            clock: config.clock,
            tick_interval: config.tick_interval.max(Duration::from_millis(1)),
            max_rounds,
            in_flight: Vec::new(),
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut next_tick = Instant::now() + self.tick_interval;
        loop {
            // Wait for a command, or until the next round is due.
            let wait = match self.clock {
                _ if self.ic.has_pending_work() => Duration::ZERO,
                Clock::WallClock => next_tick.saturating_duration_since(Instant::now()),
                // Nothing moves on its own: sleep until told.
                Clock::Manual => Duration::from_secs(3600),
            };
            let first = match rx.recv_timeout(wait) {
                Ok(cmd) => Some(cmd),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut submitted = false;
            let mut shutdown = false;
            // A bounded batch: a steady stream of calls must not hold back the rounds.
            for cmd in first.into_iter().chain(rx.try_iter().take(MAX_BATCH)) {
                match cmd {
                    Command::Shutdown => {
                        shutdown = true;
                        break;
                    }
                    cmd => submitted |= self.handle(cmd),
                }
            }
            if shutdown {
                break;
            }
            let due = self.clock == Clock::WallClock && Instant::now() >= next_tick;
            if due || submitted || self.ic.has_pending_work() {
                self.round();
                if due {
                    next_tick = Instant::now() + self.tick_interval;
                }
            }
            self.deliver();
        }
        // Dropping the in-flight replies tells their callers the host stopped.
        if !self.in_flight.is_empty() {
            warn!(
                updates = self.in_flight.len(),
                "embedded IC host stopped with updates in flight"
            );
        }
    }

    /// Runs one command; true when it submitted an update.
    fn handle(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Query {
                canister,
                sender,
                method,
                arg,
                reply,
            } => {
                if self.clock == Clock::WallClock {
                    self.ic.set_time(unix_nanos());
                }
                let result = self.ic.query_call(canister, sender, &method, arg);
                debug!(%canister, method, ok = result.is_ok(), "query");
                let _ = reply.send(result.map_err(IcError::from));
                false
            }
            Command::Update {
                canister,
                sender,
                method,
                arg,
                reply,
            } => {
                if self.clock == Clock::WallClock {
                    self.ic.set_time(unix_nanos());
                }
                match self.ic.submit_update(canister, sender, &method, arg) {
                    Ok(id) => {
                        debug!(%canister, method, id = id.0, "update submitted");
                        self.in_flight.push(InFlight {
                            id,
                            method,
                            rounds: 0,
                            reply,
                        });
                        true
                    }
                    Err(reject) => {
                        debug!(%canister, method, %reject, "update refused at submission");
                        let _ = reply.send(Err(reject.into()));
                        false
                    }
                }
            }
            Command::Run(job) => {
                job(&mut self.ic);
                false
            }
            // Handled by the loop.
            Command::Shutdown => false,
        }
    }

    fn round(&mut self) {
        if self.clock == Clock::WallClock {
            self.ic.set_time(unix_nanos());
        }
        self.ic.tick();
        for f in &mut self.in_flight {
            f.rounds = f.rounds.saturating_add(1);
        }
    }

    /// Sends the results of finished updates. An update that has no result while the IC is
    /// idle (nothing queued, no timer due) can never finish: it is rejected, like one that
    /// runs past the round limit.
    fn deliver(&mut self) {
        if self.in_flight.is_empty() {
            return;
        }
        let idle = !self.ic.has_pending_work();
        let mut waiting = Vec::with_capacity(self.in_flight.len());
        for f in std::mem::take(&mut self.in_flight) {
            let result = match self.ic.ingress_status(f.id) {
                Some(result) => result,
                None if idle || f.rounds >= self.max_rounds => Err(Reject::new(
                    RejectCode::SysTransient,
                    format!(
                        "update {} (message {}) did not complete after {} rounds",
                        f.method, f.id.0, f.rounds
                    ),
                )),
                None => {
                    waiting.push(f);
                    continue;
                }
            };
            debug!(
                method = f.method,
                id = f.id.0,
                ok = result.is_ok(),
                "update done"
            );
            // A caller that gave up no longer listens; the message ran all the same.
            let _ = f.reply.send(result.map_err(IcError::from));
        }
        self.in_flight = waiting;
    }
}
