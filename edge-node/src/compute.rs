//! The compute role's shell: keeps connections to the routers, answers liveness probes with
//! its load, reports its load to the routers, and refreshes who may connect from the registry.

use crate::ic::IcHandles;
use crate::protocol::{PingReply, KIND_LOAD, KIND_PING};
use crate::status::Shared;
use emc_net::{Event, Network, Role, Roles, StaticAuthorizer};
use emc_types::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// Compute-role settings (the `[compute]` table of the config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// The local app this node serves (its REST endpoint), e.g. `http://127.0.0.1:8080`.
    pub app_url: Option<String>,
    /// Job slots this node offers.
    pub capacity: u32,
    /// How often the registry view is refreshed.
    #[serde(with = "humantime_serde")]
    pub registry_refresh: Duration,
    /// How often the load is reported to the routers.
    #[serde(with = "humantime_serde")]
    pub report_interval: Duration,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            app_url: None,
            capacity: 4,
            registry_refresh: Duration::from_secs(10),
            report_interval: Duration::from_secs(5),
        }
    }
}

/// A compute node's status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComputeStatus {
    /// Node id (hex).
    pub id: String,
    /// Connected routers.
    pub routers: usize,
    /// Probes answered.
    pub probes_answered: u64,
    /// Jobs running.
    pub load: u32,
    /// Job slots.
    pub capacity: u32,
}

/// A running compute node.
#[derive(Debug)]
pub struct ComputeHandle {
    /// Node id.
    pub id: NodeId,
    /// Live status.
    pub status: Shared<ComputeStatus>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ComputeHandle {
    /// Stops the node and waits for its task.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Starts the compute role on a network bound with role compute.
pub fn start_compute(
    cfg: ComputeConfig,
    net: Network,
    mut events: mpsc::Receiver<Event>,
    authorizer: Arc<StaticAuthorizer>,
    ic: IcHandles,
) -> ComputeHandle {
    let id = net.node_id();
    let status = Shared::new(ComputeStatus {
        id: hex::encode(id.0),
        capacity: cfg.capacity,
        ..ComputeStatus::default()
    });
    let (shutdown, mut stop) = watch::channel(false);
    let st = status.clone();
    let task = tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel(16);
        let mut refresh = tokio::time::interval(cfg.registry_refresh);
        let mut report = tokio::time::interval(cfg.report_interval);
        let mut dialed: BTreeMap<NodeId, std::net::SocketAddr> = BTreeMap::new();
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                ev = events.recv() => match ev {
                    Some(Event::Request { kind: KIND_PING, responder, .. }) => {
                        let s = st.get();
                        let reply = PingReply { height: 0, load: s.load, capacity: s.capacity };
                        let _ = responder.respond(reply.encode());
                        st.update(|s| s.probes_answered += 1);
                    }
                    Some(Event::PeerUp { .. } | Event::PeerDown { .. }) => {
                        let routers = net.peers().iter().filter(|p| p.role == Role::Router).count();
                        st.update(|s| s.routers = routers);
                    }
                    Some(ev) => debug!(?ev, "compute: ignored"),
                    None => break,
                },
                Some(view) = rx.recv() => {
                    let view: crate::ic::ChainView = view;
                    let mut auth = Vec::new();
                    let mut routers = BTreeMap::new();
                    for (n, addr) in &view.nodes {
                        let role = match n.role {
                            emc_epochs::Role::Validator => Role::Validator,
                            emc_epochs::Role::Router => Role::Router,
                            emc_epochs::Role::Compute => Role::Compute,
                        };
                        auth.push((n.id, Roles::from(role)));
                        if role == Role::Router {
                            if let Some(a) = addr {
                                routers.insert(n.id, *a);
                            }
                        }
                    }
                    authorizer.replace_all(auth);
                    for (r, a) in &routers {
                        if dialed.get(r) != Some(a) {
                            net.add_peer(*r, *a);
                        }
                    }
                    for r in dialed.keys() {
                        if !routers.contains_key(r) {
                            net.remove_peer(r);
                        }
                    }
                    dialed = routers;
                }
                _ = refresh.tick() => {
                    let (ic, tx) = (ic.clone(), tx.clone());
                    tokio::spawn(async move {
                        match ic.chain_view(0).await {
                            Ok(v) => { let _ = tx.send(v).await; }
                            Err(e) => warn!(error = %e, "registry refresh failed"),
                        }
                    });
                }
                _ = report.tick() => {
                    let s = st.get();
                    let load = PingReply { height: 0, load: s.load, capacity: s.capacity };
                    let _ = net.broadcast(KIND_LOAD, load.encode(), Roles::from(Role::Router));
                }
            }
        }
        info!("compute node stopped");
    });
    ComputeHandle {
        id,
        status,
        shutdown,
        task,
    }
}
