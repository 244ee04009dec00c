//! Admission of calls made through a computing socket (issue #16): a dApp names the socket in
//! the `x-emc-socket` header (its token id); the router admits the call only when
//!
//! 1. the caller's key (`x-emc-account`) is bound to that socket's escrow in the market
//!    (`socket_key(key)`: token id and the holder that bound it),
//! 2. the holder that bound the key still holds the socket (the sockets canister's
//!    `socket(id)`), so a former holder's keys are refused after a transfer,
//! 3. the socket has not expired, and
//! 4. the call is for the socket's app.
//!
//! An admitted call goes to the node of the offer the socket was bought from (for a compute
//! pool's offer, the pool's entry node): the buyer paid that offer's price, and a pool's calls
//! reach the pool through its entry. When the offer is no longer listed, any node serving the
//! app may take it.
//!
//! The funds are then the socket escrow's, checked through the market's `admission(key)` like
//! any escrow. Lookups are cached for a short TTL ([`DEFAULT_TTL_NS`]); a refusal decided on a
//! cached answer (not the holder, unknown) is re-checked once against fresh answers, so a
//! transfer is seen at once by its new holder. Pure: the shell passes the clock and the
//! lookups. Refusals are typed ([`SocketAdmissionError`]) and map to JSON HTTP errors.

use candid::Principal;
use emc_ic_client::IcClientExt as _;
use emc_types::NodeId;
use std::collections::HashMap;

/// The header naming the socket.
pub const SOCKET_HEADER: &str = "x-emc-socket";
/// How long a lookup is trusted, ns.
pub const DEFAULT_TTL_NS: u64 = 10_000_000_000;

/// What the sockets canister says of a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// Token id.
    pub token_id: u64,
    /// Current holder.
    pub holder: Principal,
    /// The app whose calls it admits.
    pub app_id: String,
    /// Expiry, ns.
    pub expires_at_ns: u64,
    /// The node of the offer it was bought from (a pool's entry node); `None` when the offer
    /// is no longer listed.
    pub node: Option<NodeId>,
}

/// What the market says of a key (`socket_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBinding {
    /// The socket the key's escrow belongs to.
    pub token_id: u64,
    /// The holder that bound the key.
    pub holder: Principal,
}

/// A socket call refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketAdmissionError {
    /// The header is not a token id.
    #[error("x-emc-socket must be a token id")]
    BadHeader,
    /// No such socket.
    #[error("socket {0} does not exist")]
    UnknownSocket(u64),
    /// The key is bound to no socket.
    #[error("the key is not bound to a socket's escrow")]
    KeyNotBound,
    /// The key belongs to another socket.
    #[error("the key is bound to socket {bound}, not {requested}")]
    OtherSocket {
        /// The key's socket.
        bound: u64,
        /// The socket named in the call.
        requested: u64,
    },
    /// The key's holder no longer holds the socket.
    #[error("the caller does not hold socket {0}")]
    NotHolder(u64),
    /// Expired.
    #[error("socket {0} has expired")]
    Expired(u64),
    /// A call for another app.
    #[error("socket is for app {socket_app}, not {requested}")]
    WrongApp {
        /// The socket's app.
        socket_app: String,
        /// The app called.
        requested: String,
    },
    /// A lookup failed.
    #[error("socket lookup failed: {0}")]
    Unavailable(String),
}

impl SocketAdmissionError {
    /// Whether fresh lookups could change the answer (a transfer, a new binding).
    pub fn refetchable(&self) -> bool {
        matches!(
            self,
            Self::NotHolder(_)
                | Self::UnknownSocket(_)
                | Self::KeyNotBound
                | Self::OtherSocket { .. }
        )
    }

    /// HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadHeader => 400,
            Self::UnknownSocket(_) => 404,
            Self::KeyNotBound | Self::OtherSocket { .. } | Self::NotHolder(_) => 403,
            Self::Expired(_) => 410,
            Self::WrongApp { .. } => 403,
            Self::Unavailable(_) => 503,
        }
    }

    /// The JSON error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadHeader => "bad_socket_header",
            Self::UnknownSocket(_) => "unknown_socket",
            Self::KeyNotBound => "key_not_bound_to_socket",
            Self::OtherSocket { .. } => "key_of_another_socket",
            Self::NotHolder(_) => "not_socket_holder",
            Self::Expired(_) => "socket_expired",
            Self::WrongApp { .. } => "socket_for_another_app",
            Self::Unavailable(_) => "socket_lookup_failed",
        }
    }

    /// The JSON body: `{"error": {"code", "message"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}})
    }
}

/// Parses the header.
pub fn parse_header(v: &str) -> Result<u64, SocketAdmissionError> {
    v.trim()
        .parse::<u64>()
        .map_err(|_| SocketAdmissionError::BadHeader)
}

/// The rule, on given answers. Admitted: the node the call must go to (`None`: any node
/// serving the app).
pub fn admit(
    token_id: u64,
    key: Option<&KeyBinding>,
    socket: Option<&SocketInfo>,
    app: &str,
    now_ns: u64,
) -> Result<Option<NodeId>, SocketAdmissionError> {
    let key = key.ok_or(SocketAdmissionError::KeyNotBound)?;
    if key.token_id != token_id {
        return Err(SocketAdmissionError::OtherSocket {
            bound: key.token_id,
            requested: token_id,
        });
    }
    let s = socket.ok_or(SocketAdmissionError::UnknownSocket(token_id))?;
    if s.holder != key.holder {
        return Err(SocketAdmissionError::NotHolder(token_id));
    }
    if s.expires_at_ns <= now_ns {
        return Err(SocketAdmissionError::Expired(token_id));
    }
    if s.app_id != app {
        return Err(SocketAdmissionError::WrongApp {
            socket_app: s.app_id.clone(),
            requested: app.to_string(),
        });
    }
    Ok(s.node)
}

/// The lookups the shell provides (the market's `socket_key`, the sockets canister's
/// `socket`).
pub trait SocketDirectory {
    /// The key's binding.
    fn key_binding(&mut self, key: &NodeId) -> Result<Option<KeyBinding>, String>;
    /// The socket.
    fn socket(&mut self, token_id: u64) -> Result<Option<SocketInfo>, String>;
}

/// Cached lookups with a TTL.
#[derive(Debug, Default)]
pub struct SocketCache {
    ttl_ns: u64,
    keys: HashMap<NodeId, (Option<KeyBinding>, u64)>,
    sockets: HashMap<u64, (Option<SocketInfo>, u64)>,
}

impl SocketCache {
    /// A cache trusting answers for `ttl_ns`.
    pub fn new(ttl_ns: u64) -> SocketCache {
        SocketCache {
            ttl_ns,
            ..SocketCache::default()
        }
    }

    fn fresh(&self, at: u64, now: u64) -> bool {
        now.saturating_sub(at) < self.ttl_ns
    }

    fn cached_key(&self, key: &NodeId, now: u64) -> Option<Option<KeyBinding>> {
        self.keys
            .get(key)
            .filter(|(_, at)| self.fresh(*at, now))
            .map(|(b, _)| b.clone())
    }

    fn cached_socket(&self, id: u64, now: u64) -> Option<Option<SocketInfo>> {
        self.sockets
            .get(&id)
            .filter(|(_, at)| self.fresh(*at, now))
            .map(|(s, _)| s.clone())
    }

    /// Forgets what is cached of a socket (after a transfer is seen).
    pub fn invalidate(&mut self, token_id: u64) {
        self.sockets.remove(&token_id);
    }

    fn key(
        &mut self,
        dir: &mut impl SocketDirectory,
        key: &NodeId,
        now: u64,
        force: bool,
    ) -> Result<(Option<KeyBinding>, bool), SocketAdmissionError> {
        if let Some((b, at)) = self.keys.get(key) {
            if !force && self.fresh(*at, now) {
                return Ok((b.clone(), true));
            }
        }
        let b = dir
            .key_binding(key)
            .map_err(SocketAdmissionError::Unavailable)?;
        self.keys.insert(*key, (b.clone(), now));
        Ok((b, false))
    }

    fn socket(
        &mut self,
        dir: &mut impl SocketDirectory,
        id: u64,
        now: u64,
        force: bool,
    ) -> Result<(Option<SocketInfo>, bool), SocketAdmissionError> {
        if let Some((s, at)) = self.sockets.get(&id) {
            if !force && self.fresh(*at, now) {
                return Ok((s.clone(), true));
            }
        }
        let s = dir.socket(id).map_err(SocketAdmissionError::Unavailable)?;
        self.sockets.insert(id, (s.clone(), now));
        Ok((s, false))
    }

    /// Admits a call of `key` through socket `token_id` for `app` at `now_ns`. A refusal that
    /// rests on a cached answer is re-checked once on fresh ones.
    pub fn admit(
        &mut self,
        dir: &mut impl SocketDirectory,
        key: &NodeId,
        token_id: u64,
        app: &str,
        now_ns: u64,
    ) -> Result<Option<NodeId>, SocketAdmissionError> {
        let (b, b_cached) = self.key(dir, key, now_ns, false)?;
        let (s, s_cached) = self.socket(dir, token_id, now_ns, false)?;
        match admit(token_id, b.as_ref(), s.as_ref(), app, now_ns) {
            Err(e) if (b_cached || s_cached) && e.refetchable() => {
                let (b, _) = self.key(dir, key, now_ns, true)?;
                let (s, _) = self.socket(dir, token_id, now_ns, true)?;
                admit(token_id, b.as_ref(), s.as_ref(), app, now_ns)
            }
            r => r,
        }
    }
}

/// A boxed future of a lookup.
pub type Lookup<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'a>>;

/// The lookups as the router's async shell makes them (the market's `socket_key`, the sockets
/// canister's `socket`).
pub trait AsyncSocketDirectory: Send + Sync {
    /// The key's binding.
    fn key_binding(&self, key: NodeId) -> Lookup<'_, Option<KeyBinding>>;
    /// The socket.
    fn socket(&self, token_id: u64) -> Lookup<'_, Option<SocketInfo>>;
}

/// The lookups on the IC: the market's `socket_key` and the sockets canister's `socket`, as
/// queries through any [`emc_ic_client::IcClient`] (what `start_router` uses when `[ic]` names
/// both canisters).
pub struct IcSocketDirectory {
    client: std::sync::Arc<dyn emc_ic_client::IcClient>,
    market: Principal,
    sockets: Principal,
}

impl IcSocketDirectory {
    /// Lookups on `market` and `sockets` through `client`.
    pub fn new(
        client: std::sync::Arc<dyn emc_ic_client::IcClient>,
        market: Principal,
        sockets: Principal,
    ) -> IcSocketDirectory {
        IcSocketDirectory {
            client,
            market,
            sockets,
        }
    }
}

impl AsyncSocketDirectory for IcSocketDirectory {
    fn key_binding(&self, key: NodeId) -> Lookup<'_, Option<KeyBinding>> {
        Box::pin(async move {
            let k: Option<emc_market::market::sockets::SocketKey> = (*self.client)
                .query_candid(self.market, "socket_key", (key,))
                .await
                .map_err(|e| e.to_string())?;
            Ok(k.map(|k| KeyBinding {
                token_id: k.token_id,
                holder: k.holder,
            }))
        })
    }

    fn socket(&self, token_id: u64) -> Lookup<'_, Option<SocketInfo>> {
        Box::pin(async move {
            let v: Option<emc_sockets::SocketView> = (*self.client)
                .query_candid(self.sockets, "socket", (candid::Nat::from(token_id),))
                .await
                .map_err(|e| e.to_string())?;
            let Some(v) = v else { return Ok(None) };
            // The offer it was bought from names the node its calls go to.
            let offer: Option<emc_market::Offer> = (*self.client)
                .query_candid(self.market, "offer", (v.terms.offer_id,))
                .await
                .map_err(|e| e.to_string())?;
            Ok(Some(SocketInfo {
                token_id,
                holder: v.owner.owner,
                app_id: v.terms.app_id,
                expires_at_ns: v.terms.expires_at,
                node: offer.map(|o| o.node),
            }))
        })
    }
}

/// The router's socket admission: the directory (none: socket calls are refused with 503) and
/// the cache.
#[derive(Default)]
pub struct SocketGate {
    dir: std::sync::RwLock<Option<std::sync::Arc<dyn AsyncSocketDirectory>>>,
    cache: std::sync::Mutex<SocketCache>,
}

impl std::fmt::Debug for SocketGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketGate").finish_non_exhaustive()
    }
}

impl SocketGate {
    /// A gate without a directory, caching for [`DEFAULT_TTL_NS`].
    pub fn new() -> SocketGate {
        SocketGate {
            dir: std::sync::RwLock::new(None),
            cache: std::sync::Mutex::new(SocketCache::new(DEFAULT_TTL_NS)),
        }
    }

    /// Sets where socket lookups go.
    pub fn set_directory(&self, dir: std::sync::Arc<dyn AsyncSocketDirectory>) {
        if let Ok(mut d) = self.dir.write() {
            *d = Some(dir);
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, SocketCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits `key`'s call through socket `token_id` for `app` at wall-clock `now_ns` (the
    /// same rule and cache as [`SocketCache::admit`], the lookups awaited outside the lock).
    pub async fn admit(
        &self,
        key: &NodeId,
        token_id: u64,
        app: &str,
        now_ns: u64,
    ) -> Result<Option<NodeId>, SocketAdmissionError> {
        let dir = self
            .dir
            .read()
            .ok()
            .and_then(|d| d.clone())
            .ok_or_else(|| SocketAdmissionError::Unavailable("no socket directory".into()))?;
        let cached_key = self.cache().cached_key(key, now_ns);
        let cached_socket = self.cache().cached_socket(token_id, now_ns);
        let was_cached = cached_key.is_some() || cached_socket.is_some();
        let b = match cached_key {
            Some(b) => b,
            None => self.fetch_key(&*dir, key, now_ns).await?,
        };
        let s = match cached_socket {
            Some(s) => s,
            None => self.fetch_socket(&*dir, token_id, now_ns).await?,
        };
        match admit(token_id, b.as_ref(), s.as_ref(), app, now_ns) {
            Err(e) if was_cached && e.refetchable() => {
                let b = self.fetch_key(&*dir, key, now_ns).await?;
                let s = self.fetch_socket(&*dir, token_id, now_ns).await?;
                admit(token_id, b.as_ref(), s.as_ref(), app, now_ns)
            }
            r => r,
        }
    }

    async fn fetch_key(
        &self,
        dir: &dyn AsyncSocketDirectory,
        key: &NodeId,
        now: u64,
    ) -> Result<Option<KeyBinding>, SocketAdmissionError> {
        let b = dir
            .key_binding(*key)
            .await
            .map_err(SocketAdmissionError::Unavailable)?;
        self.cache().keys.insert(*key, (b.clone(), now));
        Ok(b)
    }

    async fn fetch_socket(
        &self,
        dir: &dyn AsyncSocketDirectory,
        id: u64,
        now: u64,
    ) -> Result<Option<SocketInfo>, SocketAdmissionError> {
        let s = dir
            .socket(id)
            .await
            .map_err(SocketAdmissionError::Unavailable)?;
        self.cache().sockets.insert(id, (s.clone(), now));
        Ok(s)
    }
}

/// The API's hook: `header` is the parsed `x-emc-socket` value; the clock is the wall clock
/// (socket expiry is wall-clock time).
pub async fn admit_call(
    gate: &SocketGate,
    key: &NodeId,
    header: Result<u64, SocketAdmissionError>,
    app: &str,
) -> Result<Option<NodeId>, SocketAdmissionError> {
    let token_id = header?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    gate.admit(key, token_id, app, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u8) -> Principal {
        Principal::from_slice(&[n, 1])
    }

    #[derive(Default)]
    struct Dir {
        keys: HashMap<NodeId, KeyBinding>,
        sockets: HashMap<u64, SocketInfo>,
        lookups: u32,
        down: bool,
    }

    impl SocketDirectory for Dir {
        fn key_binding(&mut self, key: &NodeId) -> Result<Option<KeyBinding>, String> {
            self.lookups += 1;
            if self.down {
                return Err("market unreachable".into());
            }
            Ok(self.keys.get(key).cloned())
        }
        fn socket(&mut self, id: u64) -> Result<Option<SocketInfo>, String> {
            self.lookups += 1;
            if self.down {
                return Err("sockets canister unreachable".into());
            }
            Ok(self.sockets.get(&id).cloned())
        }
    }

    const NOW: u64 = 1_000_000_000_000;
    /// The node of the offer socket 7 was bought from.
    const OFFER_NODE: NodeId = NodeId([42; 32]);

    fn dir() -> Dir {
        let mut d = Dir::default();
        d.keys.insert(
            NodeId([1; 32]),
            KeyBinding {
                token_id: 7,
                holder: p(1),
            },
        );
        d.keys.insert(
            NodeId([2; 32]),
            KeyBinding {
                token_id: 7,
                holder: p(2),
            },
        );
        d.sockets.insert(
            7,
            SocketInfo {
                token_id: 7,
                holder: p(1),
                app_id: "sd-xl".into(),
                expires_at_ns: NOW + 100 * DEFAULT_TTL_NS,
                node: Some(OFFER_NODE),
            },
        );
        d
    }

    #[test]
    fn the_rule_refuses_with_typed_errors() {
        let d = dir();
        let k1 = d.keys.get(&NodeId([1; 32]));
        let s = d.sockets.get(&7);
        assert_eq!(admit(7, k1, s, "sd-xl", NOW), Ok(Some(OFFER_NODE)));
        // An offer no longer listed: any node serving the app.
        let unlisted = s.map(|s| SocketInfo {
            node: None,
            ..s.clone()
        });
        assert_eq!(admit(7, k1, unlisted.as_ref(), "sd-xl", NOW), Ok(None));
        assert_eq!(
            admit(7, None, s, "sd-xl", NOW),
            Err(SocketAdmissionError::KeyNotBound)
        );
        assert_eq!(
            admit(8, k1, None, "sd-xl", NOW),
            Err(SocketAdmissionError::OtherSocket {
                bound: 7,
                requested: 8
            })
        );
        assert_eq!(
            admit(7, k1, None, "sd-xl", NOW),
            Err(SocketAdmissionError::UnknownSocket(7))
        );
        let k2 = d.keys.get(&NodeId([2; 32]));
        assert_eq!(
            admit(7, k2, s, "sd-xl", NOW),
            Err(SocketAdmissionError::NotHolder(7))
        );
        assert_eq!(
            admit(7, k1, s, "sd-xl", NOW + 100 * DEFAULT_TTL_NS),
            Err(SocketAdmissionError::Expired(7))
        );
        let e = admit(7, k1, s, "llama", NOW).unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "socket_for_another_app"));
        assert_eq!(e.to_json()["error"]["code"], "socket_for_another_app");
        assert_eq!(SocketAdmissionError::Expired(7).status(), 410);
        assert_eq!(parse_header(" 7 "), Ok(7));
        assert_eq!(parse_header("seven"), Err(SocketAdmissionError::BadHeader));
    }

    #[test]
    fn a_transfer_is_seen_at_once_by_the_new_holder_and_refuses_the_old_one() {
        let mut d = dir();
        let mut c = SocketCache::new(DEFAULT_TTL_NS);
        let (k1, k2) = (NodeId([1; 32]), NodeId([2; 32]));
        assert_eq!(c.admit(&mut d, &k1, 7, "sd-xl", NOW), Ok(Some(OFFER_NODE)));
        assert_eq!(
            c.admit(&mut d, &k1, 7, "sd-xl", NOW + 1),
            Ok(Some(OFFER_NODE))
        );
        assert_eq!(d.lookups, 2, "the second call is served from the cache");
        // The socket moves to p(2). The cache still says p(1): the new holder's refusal is
        // re-checked on fresh answers and admitted at once.
        d.sockets.get_mut(&7).unwrap().holder = p(2);
        assert_eq!(
            c.admit(&mut d, &k2, 7, "sd-xl", NOW + 2),
            Ok(Some(OFFER_NODE))
        );
        // The old holder is refused from then on (the cache was refreshed).
        assert_eq!(
            c.admit(&mut d, &k1, 7, "sd-xl", NOW + 3),
            Err(SocketAdmissionError::NotHolder(7))
        );
        // Past the TTL everything is looked up again.
        let before = d.lookups;
        assert_eq!(
            c.admit(&mut d, &k2, 7, "sd-xl", NOW + 3 + DEFAULT_TTL_NS),
            Ok(Some(OFFER_NODE))
        );
        assert_eq!(d.lookups, before + 2);
        // Lookups failing: a typed 503, not an admission.
        d.down = true;
        c.invalidate(7);
        let e = c
            .admit(&mut d, &k2, 7, "sd-xl", NOW + 4 + DEFAULT_TTL_NS)
            .unwrap_err();
        assert_eq!(e.status(), 503);
    }

    struct AsyncDir(std::sync::Mutex<Dir>);

    impl AsyncSocketDirectory for AsyncDir {
        fn key_binding(&self, key: NodeId) -> Lookup<'_, Option<KeyBinding>> {
            let r = self.0.lock().unwrap().key_binding(&key);
            Box::pin(async move { r })
        }
        fn socket(&self, id: u64) -> Lookup<'_, Option<SocketInfo>> {
            let r = self.0.lock().unwrap().socket(id);
            Box::pin(async move { r })
        }
    }

    #[tokio::test]
    async fn the_gate_refuses_without_a_directory_and_follows_transfers() {
        let gate = SocketGate::new();
        let (k1, k2) = (NodeId([1; 32]), NodeId([2; 32]));
        assert_eq!(
            gate.admit(&k1, 7, "sd-xl", NOW).await.unwrap_err().status(),
            503
        );
        let dir = std::sync::Arc::new(AsyncDir(std::sync::Mutex::new(dir())));
        gate.set_directory(dir.clone());
        assert_eq!(gate.admit(&k1, 7, "sd-xl", NOW).await, Ok(Some(OFFER_NODE)));
        dir.0.lock().unwrap().sockets.get_mut(&7).unwrap().holder = p(2);
        assert_eq!(
            gate.admit(&k2, 7, "sd-xl", NOW + 1).await,
            Ok(Some(OFFER_NODE))
        );
        assert_eq!(
            gate.admit(&k1, 7, "sd-xl", NOW + 2).await,
            Err(SocketAdmissionError::NotHolder(7))
        );
        assert_eq!(
            admit_call(&gate, &k2, parse_header("x"), "sd-xl").await,
            Err(SocketAdmissionError::BadHeader)
        );
    }
}
