//! [`AgentClient`]: canister calls through ic-agent, to a local replica or the real IC.

use crate::{IcClient, IcError, RejectCode};
use async_trait::async_trait;
use candid::Principal;
use ic_agent::agent::RejectCode as AgentRejectCode;
use ic_agent::export::reqwest;
use ic_agent::identity::{AnonymousIdentity, BasicIdentity, Secp256k1Identity};
use ic_agent::{Agent, AgentError, Identity};
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

/// The key type of an [`AgentIdentity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// No key: the anonymous principal (`2vxsx-fae`); queries and unauthenticated updates only.
    Anonymous,
    /// An ed25519 key (dfx's default `PRIVATE KEY` PKCS#8 PEM).
    Ed25519,
    /// A secp256k1 key (`EC PRIVATE KEY` SEC1 PEM, as `dfx identity new --storage-mode` or
    /// `openssl ecparam -name secp256k1 -genkey` write it).
    Secp256k1,
}

/// The identity an [`AgentClient`] signs its calls with.
#[derive(Clone)]
pub struct AgentIdentity {
    identity: Arc<dyn Identity>,
    kind: KeyKind,
    principal: Principal,
}

impl fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key: only what it is and whose it is.
        f.debug_struct("AgentIdentity")
            .field("kind", &self.kind)
            .field("principal", &self.principal.to_text())
            .finish()
    }
}

const PKCS8_LABEL: &str = "-----BEGIN PRIVATE KEY-----";
const SEC1_EC_LABEL: &str = "-----BEGIN EC PRIVATE KEY-----";

impl AgentIdentity {
    /// The anonymous identity.
    pub fn anonymous() -> Self {
        AgentIdentity {
            identity: Arc::new(AnonymousIdentity),
            kind: KeyKind::Anonymous,
            principal: Principal::anonymous(),
        }
    }

    /// Loads a key from PEM text; the key type is read from the PEM label: `EC PRIVATE KEY`
    /// is secp256k1 (an `EC PARAMETERS` block may precede it), `PRIVATE KEY` (PKCS#8) is
    /// ed25519.
    pub fn from_pem(pem: &[u8]) -> Result<Self, IcError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| IcError::Identity("the PEM is not UTF-8 text".into()))?;
        let (identity, kind): (Arc<dyn Identity>, KeyKind) = if text.contains(SEC1_EC_LABEL) {
            let id = Secp256k1Identity::from_pem(pem)
                .map_err(|e| IcError::Identity(format!("secp256k1 PEM: {e}")))?;
            (Arc::new(id), KeyKind::Secp256k1)
        } else if text.contains(PKCS8_LABEL) {
            let id = BasicIdentity::from_pem(pem).map_err(|e| {
                IcError::Identity(format!(
                    "ed25519 PKCS#8 PEM: {e} (secp256k1 keys must be SEC1 `EC PRIVATE KEY` PEM)"
                ))
            })?;
            (Arc::new(id), KeyKind::Ed25519)
        } else {
            return Err(IcError::Identity(
                "no private key in the PEM: expected an ed25519 `PRIVATE KEY` (PKCS#8) or a \
                 secp256k1 `EC PRIVATE KEY` block"
                    .into(),
            ));
        };
        let principal = identity.sender().map_err(IcError::Identity)?;
        Ok(AgentIdentity {
            identity,
            kind,
            principal,
        })
    }

    /// Loads a key from a PEM file (see [`Self::from_pem`]).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, IcError> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| IcError::Identity(format!("reading {}: {e}", path.display())))?;
        Self::from_pem(&pem)
    }

    /// The principal derived from the public key (self-authenticating), or the anonymous one.
    pub fn principal(&self) -> Principal {
        self.principal
    }

    /// The key type.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
}

/// Settings of an [`AgentClient`].
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The replica or boundary node, e.g. `http://127.0.0.1:4943` or `https://icp-api.io`.
    pub url: String,
    /// Who signs the calls.
    pub identity: AgentIdentity,
    /// Whether this is a local network whose root key is fetched from the replica (`None`:
    /// decided from the URL's host: `localhost`, `*.localhost`, or a loopback address).
    /// Never fetch the root key from mainnet: the built-in key is the trust anchor there.
    pub local: Option<bool>,
    /// The root key to trust (DER), for a local replica whose key is known (`emc-replica`
    /// prints it): then nothing is fetched, so a man in the middle cannot substitute its own.
    /// `None`: fetched from the replica on a local network, the IC's built-in key otherwise.
    pub root_key: Option<Vec<u8>>,
    /// Longest time one call may take, polling for an update's result included.
    pub timeout: Duration,
    /// Longest time to open a TCP connection (capped by `timeout`).
    pub connect_timeout: Duration,
}

impl AgentConfig {
    /// Defaults: network kind from the URL, 60 s per call, 5 s to connect.
    pub fn new(url: impl Into<String>, identity: AgentIdentity) -> Self {
        AgentConfig {
            url: url.into(),
            identity,
            local: None,
            root_key: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Whether `url` names a local network (its host is `localhost`, `*.localhost` or a loopback
/// address).
pub fn is_local_url(url: &str) -> Result<bool, IcError> {
    let parsed = url::Url::parse(url).map_err(|e| IcError::Config(format!("URL {url:?}: {e}")))?;
    Ok(match parsed.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

/// Canister calls through ic-agent: queries (signature-verified replies), updates (submitted,
/// then polled until certified). On a local network the replica's root key is fetched once,
/// before the first call (or by [`AgentClient::fetch_root_key`]); on mainnet it never is.
pub struct AgentClient {
    agent: Agent,
    principal: Principal,
    url: String,
    local: bool,
    timeout: Duration,
    root_key: OnceCell<()>,
}

impl fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentClient")
            .field("url", &self.url)
            .field("principal", &self.principal.to_text())
            .field("local", &self.local)
            .finish()
    }
}

impl AgentClient {
    /// A client for `url` with default settings ([`AgentConfig::new`]). Makes no request: a
    /// local network's root key is fetched by the first call.
    pub fn new(url: &str, identity: AgentIdentity) -> Result<Self, IcError> {
        Self::with_config(AgentConfig::new(url, identity))
    }

    /// A client with explicit settings.
    pub fn with_config(config: AgentConfig) -> Result<Self, IcError> {
        // Parsed here: ic-agent's builder panics on a URL it cannot parse.
        let parsed = url::Url::parse(&config.url)
            .map_err(|e| IcError::Config(format!("URL {:?}: {e}", config.url)))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(IcError::Config(format!(
                "URL {:?}: expected http(s)://host[:port]",
                config.url
            )));
        }
        let local = match config.local {
            Some(local) => local,
            None => is_local_url(&config.url)?,
        };
        if config.timeout.is_zero() {
            return Err(IcError::Config("the call timeout must be positive".into()));
        }
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout.min(config.timeout))
            .build()
            .map_err(|e| IcError::Config(format!("HTTP client: {e}")))?;
        let principal = config.identity.principal();
        let agent = Agent::builder()
            .with_url(parsed.as_str())
            .with_arc_identity(config.identity.identity.clone())
            .with_http_client(http)
            .with_max_polling_time(config.timeout)
            .build()
            .map_err(map_agent_error)?;
        let root_key = OnceCell::new();
        if let Some(key) = config.root_key {
            agent.set_root_key(key);
            // Pinned: never fetched.
            let _ = root_key.set(());
        }
        info!(url = %config.url, %principal, local, pinned_root_key = root_key.initialized(), "ic-agent client");
        Ok(AgentClient {
            agent,
            principal,
            url: config.url,
            local,
            timeout: config.timeout,
            root_key,
        })
    }

    /// Whether the root key is fetched from the replica (a local network).
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The URL calls go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The underlying agent, for calls this interface does not cover.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Fetches the replica's root key now (local networks only; a no-op on mainnet and with a
    /// pinned [`AgentConfig::root_key`]). Calls do this themselves the first time.
    pub async fn fetch_root_key(&self) -> Result<(), IcError> {
        if !self.local {
            return Ok(());
        }
        self.root_key
            .get_or_try_init(|| async {
                self.with_timeout("fetch_root_key", self.agent.fetch_root_key())
                    .await?;
                debug!(url = %self.url, "fetched the local replica's root key");
                Ok::<(), IcError>(())
            })
            .await
            .map(|_| ())
    }

    /// An update call whose effective canister id is `effective` rather than the callee: the
    /// management canister's (`aaaaa-aa`) methods are routed by the canister they are about,
    /// `provisional_create_canister_with_cycles` by its `specified_id`.
    pub async fn update_with_effective_id(
        &self,
        canister: Principal,
        effective: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError> {
        self.fetch_root_key().await?;
        debug!(%canister, %effective, method, arg_bytes = arg.len(), "update");
        let call = self
            .agent
            .update(&canister, method)
            .with_effective_canister_id(effective)
            .with_arg(arg)
            .call_and_wait();
        self.with_timeout(method, call).await
    }

    async fn with_timeout<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, AgentError>>,
    ) -> Result<T, IcError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(map_agent_error),
            Err(_) => Err(IcError::Transport(format!(
                "{what} to {} timed out after {:?}",
                self.url, self.timeout
            ))),
        }
    }
}

#[async_trait]
impl IcClient for AgentClient {
    fn principal(&self) -> Principal {
        self.principal
    }

    async fn query(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError> {
        self.fetch_root_key().await?;
        debug!(%canister, method, arg_bytes = arg.len(), "query");
        let call = self.agent.query(&canister, method).with_arg(arg).call();
        let result = self.with_timeout(method, call).await;
        if let Err(e) = &result {
            warn!(%canister, method, error = %e, "query failed");
        }
        result
    }

    async fn update(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, IcError> {
        self.fetch_root_key().await?;
        debug!(%canister, method, arg_bytes = arg.len(), "update");
        let call = self
            .agent
            .update(&canister, method)
            .with_arg(arg)
            .call_and_wait();
        let result = self.with_timeout(method, call).await;
        if let Err(e) = &result {
            warn!(%canister, method, error = %e, "update failed");
        }
        result
    }
}

fn reject_code(code: AgentRejectCode) -> RejectCode {
    match code {
        AgentRejectCode::SysFatal => RejectCode::SysFatal,
        AgentRejectCode::SysTransient => RejectCode::SysTransient,
        AgentRejectCode::DestinationInvalid => RejectCode::DestinationInvalid,
        AgentRejectCode::CanisterReject => RejectCode::CanisterReject,
        AgentRejectCode::CanisterError => RejectCode::CanisterError,
    }
}

/// Sorts ic-agent's errors into [`IcError`]'s kinds.
fn map_agent_error(e: AgentError) -> IcError {
    match e {
        AgentError::CertifiedReject { reject, .. }
        | AgentError::UncertifiedReject { reject, .. } => {
            let message = match reject.error_code {
                Some(code) => format!("{} ({code})", reject.reject_message),
                None => reject.reject_message,
            };
            IcError::Reject {
                code: reject_code(reject.reject_code),
                message,
            }
        }
        e @ (AgentError::TransportError(_)
        | AgentError::TimeoutWaitingForResponse()
        | AgentError::HttpError(_)
        | AgentError::RouteProviderError(_)) => IcError::Transport(e.to_string()),
        e @ AgentError::SigningError(_) => IcError::Identity(e.to_string()),
        e @ (AgentError::InvalidReplicaUrl(_) | AgentError::UrlParseError(_)) => {
            IcError::Config(e.to_string())
        }
        e => IcError::Protocol(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls() {
        for url in [
            "http://127.0.0.1:4943",
            "http://localhost:8080/",
            "http://LOCALHOST",
            "http://abc.localhost:4943",
            "http://[::1]:4943",
            "http://127.1.2.3",
        ] {
            assert!(is_local_url(url).unwrap(), "{url}");
        }
        for url in [
            "https://icp-api.io",
            "https://ic0.app",
            "http://10.0.0.1:4943",
            "http://localhost.example.com",
        ] {
            assert!(!is_local_url(url).unwrap(), "{url}");
        }
        assert!(matches!(is_local_url("not a url"), Err(IcError::Config(_))));
    }

    #[test]
    fn anonymous_identity() {
        let id = AgentIdentity::anonymous();
        assert_eq!(id.principal(), Principal::anonymous());
        assert_eq!(id.kind(), KeyKind::Anonymous);
    }

    #[test]
    fn pem_without_a_key_is_refused() {
        for pem in [
            &b"hello"[..],
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            &[0xff, 0xfe],
        ] {
            assert!(matches!(
                AgentIdentity::from_pem(pem),
                Err(IcError::Identity(_))
            ));
        }
        let broken = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            AgentIdentity::from_pem(broken),
            Err(IcError::Identity(_))
        ));
        let broken = b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            AgentIdentity::from_pem(broken),
            Err(IcError::Identity(_))
        ));
    }
}
