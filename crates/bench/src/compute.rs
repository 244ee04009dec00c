//! The compute service (issue #14): the dispatch policy (`emc_edge_core::dispatch`) on the
//! seeded virtual-time simulation against an oracle and how fast `pick` runs, then a real
//! devnet (4 validators, one router, two compute nodes each running the demo app, QUIC on
//! loopback) for the HTTP path:
//!
//! - `router_added_latency_p50_us` / `_p99_us`: a trivial call (`/v1/completions`, one token,
//!   not streamed) through the router (signed HTTP → router → QUIC → node → app and back)
//!   minus the same call straight to the app, 500 of each, alternating, one client: the
//!   difference of the p50s and of the p99s;
//! - `calls_per_s`: 64 concurrent clients (distinct funded accounts), each calling in a loop
//!   for 5 s, through the one router to the two nodes; `calls_failed` counts non-200s
//!   (`calls_failed_by_status` by status, `error` for a failed exchange);
//! - `receipts_per_s_committed`: every client countersigns its pending receipts; receipts
//!   committed in validator 0's blocks per second, from the first countersignature to the
//!   last receipt committed (at most 60 s).
//!
//! - `uploads` (a second small devnet: one compute node proxying a sink app that counts
//!   what it receives): a 128 MiB request body sent straight to the sink and through the
//!   router as a streamed upload (declared SHA-256), three of each:
//!   `direct_mib_per_s`, `routed_mib_per_s` (the best run of each), and `rss_growth_mib`, the
//!   process's resident memory at its highest during the routed uploads minus before them
//!   (router, node and sink all live in this process: holding the body whole anywhere on the
//!   way would add at least its 128 MiB).
//!
//! - `dispatch_p99_vs_oracle`: the worst, over the workloads below and seeds 1–3, of the
//!   dispatcher's p99 time to first byte divided by the oracle's (the oracle knows every node's
//!   true speed and free slots and takes the fastest node with a free slot). Workloads: six
//!   nodes at 1×, 1×, 2×, 2×, 4×, 4× a 100 ms service time, four slots each, ±20 % jitter,
//!   20,000 Poisson calls (2,000 warm-up), offered 30 / 50 / 70 % of the fleet's throughput,
//!   with independent slots and (30 / 50 %) with contention 0.5 (a node's open calls slow a new
//!   one by `1 + 0.5 × open / slots`). `dispatch_by_workload` has each one.
//! - `picks_per_s`: `pick` + `on_first_byte` + `on_success` cycles per second on one core, 100
//!   nodes serving the model, 50 calls open at any time (`picks_per_s_1000_nodes`: 1,000).

use anyhow::Result;
use emc_edge_core::dispatch::sim::{self, SimConfig};
use emc_edge_core::dispatch::{DispatchConfig, Dispatcher, Ticket};
use emc_types::NodeId;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run(service_only: bool) -> Result<Value> {
    if service_only {
        return Ok(json!({
            "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "service": service_runtime()?,
        }));
    }
    let cfg = DispatchConfig::default();
    let mut worst = 0f64;
    let mut by = serde_json::Map::new();
    for (load, contention) in [(0.3, 0.0), (0.5, 0.0), (0.7, 0.0), (0.3, 0.5), (0.5, 0.5)] {
        let mut ratios = Vec::new();
        let mut p99 = Vec::new();
        for seed in 1..=3u64 {
            let mut w = SimConfig::standard(seed, load);
            w.contention = contention;
            let (r, ours, oracle) = sim::p99_vs_oracle(&w, &cfg);
            anyhow::ensure!(ours.open_tickets == 0, "tickets leaked");
            ratios.push(r);
            p99.push((ours.p99_ns / 1_000_000, oracle.p99_ns / 1_000_000));
        }
        let max = ratios.iter().copied().fold(0f64, f64::max);
        worst = worst.max(max);
        by.insert(
            format!("load_{load}_contention_{contention}"),
            json!({
                "ratio_max": round3(max),
                "ratios": ratios.iter().map(|r| round3(*r)).collect::<Vec<_>>(),
                "p99_ms_dispatch_oracle": p99,
            }),
        );
    }
    Ok(json!({
        "dispatch_p99_vs_oracle": round3(worst),
        "dispatch_by_workload": Value::Object(by),
        "picks_per_s": picks_per_s(100),
        "picks_per_s_1000_nodes": picks_per_s(1000),
        "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "service": service_runtime()?,
    }))
}

/// The devnet's service part on its own runtime.
fn service_runtime() -> Result<Value> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut v = rt.block_on(service())?;
    v["uploads"] = rt.block_on(uploads())?;
    Ok(v)
}

/// Starts a devnet and waits until its router lists `nodes` compute nodes' offers; the
/// cluster and its router's API address.
async fn start_serving(
    cfg: emc_devnet::ClusterConfig,
    nodes: usize,
) -> Result<(emc_devnet::Cluster, std::net::SocketAddr)> {
    let c = emc_devnet::Cluster::start(cfg).await?;
    let api = c
        .api_addr(0)
        .ok_or_else(|| anyhow::anyhow!("no router API"))?;
    let gw = c.routers[0].0.gateway.clone();
    let t = Instant::now();
    while gw.models_json()["data"][0]["emc"]["nodes"] != nodes {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "the compute nodes never offered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((c, api))
}

const UPLOAD: usize = 128 << 20;

/// The process's resident memory, bytes (0 where `/proc` is absent).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A sink app on loopback: `GET /v1/models` lists `sink`; any other request's body is read
/// and counted, and answered with its length.
async fn sink_app() -> Result<std::net::SocketAddr> {
    use http_body_util::BodyExt as _;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let service = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    let answer = if req.uri().path() == "/v1/models" {
                        r#"{"object":"list","data":[{"id":"sink","object":"model"}]}"#.to_string()
                    } else {
                        let (mut body, mut n) = (req.into_body(), 0usize);
                        while let Some(frame) = body.frame().await {
                            n += frame?.data_ref().map_or(0, |d| d.len());
                        }
                        format!(r#"{{"bytes":{n}}}"#)
                    };
                    Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from(answer),
                    )))
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    Ok(addr)
}

/// Posts `body` to `addr` (signed as `key` for the router when given); the seconds it took.
async fn post_upload(
    addr: std::net::SocketAddr,
    path: &str,
    body: bytes::Bytes,
    key: Option<(&ed25519_dalek::SigningKey, u64)>,
) -> Result<f64> {
    use http_body_util::BodyExt as _;
    let mut req = hyper::Request::post(path).header(hyper::header::HOST, addr.to_string());
    if let Some((key, nonce)) = key {
        let hash = emc_types::sha256(&[&body]);
        let sig = emc_edge_core::compute::sign_request_hashed(key, nonce, "POST", path, &hash);
        req = req
            .header("x-emc-account", hex::encode(key.verifying_key().to_bytes()))
            .header("x-emc-nonce", nonce.to_string())
            .header("x-emc-signature", hex::encode(sig.0))
            .header("x-emc-model", "sink")
            .header(
                emc_edge_core::compute::BODY_HASH_HEADER,
                hex::encode(hash.0),
            );
    }
    let len = body.len();
    let req = req.body(http_body_util::Full::new(body))?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let t0 = Instant::now();
    let resp = send.send_request(req).await?;
    let status = resp.status();
    let answer = resp.into_body().collect().await?.to_bytes();
    let secs = t0.elapsed().as_secs_f64();
    let v: Value = serde_json::from_slice(&answer)
        .map_err(|_| anyhow::anyhow!("{status}: {}", String::from_utf8_lossy(&answer)))?;
    anyhow::ensure!(v["bytes"] == len, "{status}: {v}");
    Ok(secs)
}

async fn uploads() -> Result<Value> {
    use emc_devnet::{devnet_user_key, ClusterConfig};
    let dir = std::env::temp_dir().join(format!("emc-bench-uploads-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sink = sink_app().await?;
    let mut cfg = ClusterConfig::devnet(dir);
    cfg.compute = 1;
    cfg.pool = false;
    cfg.demo_app = false;
    cfg.compute_node.app_url = Some(format!("http://{sink}"));
    cfg.compute_node.app = "files".into();
    cfg.compute_node.max_request_bytes = 2 * UPLOAD as u64;
    cfg.genesis_delay = Duration::from_secs(3);
    cfg.validator.poc_interval = Duration::ZERO;
    cfg.router.max_request_bytes = 2 * UPLOAD as u64;
    cfg.router.call_timeout = Duration::from_secs(600);
    let (c, api) = start_serving(cfg, 1).await?;
    let body = bytes::Bytes::from((0..UPLOAD).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let key = devnet_user_key(0);
    let (mut direct, mut routed) = (0f64, 0f64);
    let mib = UPLOAD as f64 / (1 << 20) as f64;
    for _ in 0..3 {
        let s = post_upload(sink, "/upload", body.clone(), None).await?;
        direct = direct.max(mib / s);
    }
    let before = rss_bytes();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for nonce in 1..=3 {
        let s = post_upload(api, "/files/upload", body.clone(), Some((&key, nonce))).await?;
        routed = routed.max(mib / s);
    }
    sampling.abort();
    let growth = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    c.shutdown().await;
    Ok(json!({
        "body_mib": mib,
        "direct_mib_per_s": direct.round(),
        "routed_mib_per_s": routed.round(),
        "rss_growth_mib": round3(growth as f64 / (1 << 20) as f64),
    }))
}

const CLIENTS: usize = 64;
const TRIVIAL: &[u8] = br#"{"model":"emc-bigram","prompt":"the","max_tokens":1}"#;

fn quantile(v: &mut [u64], q: f64) -> u64 {
    v.sort_unstable();
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

async fn service() -> Result<Value> {
    use emc_devnet::{devnet_user_key, ClusterConfig};
    use emc_router::client::Client;
    let dir = std::env::temp_dir().join(format!("emc-bench-compute-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = ClusterConfig::devnet(dir);
    cfg.genesis_delay = Duration::from_secs(3);
    cfg.validator.poc_interval = Duration::ZERO;
    cfg.validator.block_interval = Duration::from_millis(100);
    cfg.validator.epoch_length = 100_000;
    cfg.validator.checkpoint_interval = 1_000;
    cfg.compute_node.capacity = 64;
    // Two ordinary compute nodes: no pool, so no co-signing work beside the calls.
    cfg.pool = false;
    cfg.router.rate_per_s = 0;
    // 64 accounts with a fixed credit each (the devnet funds market escrows for 16 users).
    cfg.router.funds = emc_router::FundsSource::Allowances;
    cfg.router.allowances = (0..CLIENTS)
        .map(|i| {
            (
                hex::encode(devnet_user_key(i).verifying_key().to_bytes()),
                1_000_000_000_000,
            )
        })
        .collect();
    let (c, api) = start_serving(cfg, 2).await?;

    // Added latency: the same trivial call, straight to the app and through the router.
    let direct = Client::new(c.apps[0], devnet_user_key(0));
    let routed = Client::new(api, devnet_user_key(0));
    let app_req = || {
        hyper::Request::post("/v1/completions")
            .header(hyper::header::HOST, "app")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                TRIVIAL,
            )))
    };
    let (mut d_us, mut r_us) = (Vec::new(), Vec::new());
    for i in 0..550 {
        let t0 = Instant::now();
        let a = direct.send(app_req()?).await?;
        let d = t0.elapsed().as_micros() as u64;
        let t0 = Instant::now();
        let b = routed.call("POST", "/v1/completions", TRIVIAL).await?;
        let r = t0.elapsed().as_micros() as u64;
        anyhow::ensure!(
            a.status == 200 && b.status == 200,
            "{} {}",
            a.status,
            b.text()
        );
        if i >= 50 {
            d_us.push(d);
            r_us.push(r);
        }
    }
    let (d50, d99) = (quantile(&mut d_us, 0.5), quantile(&mut d_us, 0.99));
    let (r50, r99) = (quantile(&mut r_us, 0.5), quantile(&mut r_us, 0.99));

    // Throughput: 64 clients for 5 s.
    let clients: Vec<Arc<Client>> = (0..CLIENTS)
        .map(|i| Arc::new(Client::new(api, devnet_user_key(i))))
        .collect();
    let run_for = Duration::from_secs(5);
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .map(|cl| {
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, BTreeMap::<String, u64>::new());
                while start.elapsed() < run_for {
                    match cl.call("POST", "/v1/completions", TRIVIAL).await {
                        Ok(r) if r.status == 200 => ok += 1,
                        Ok(r) => *failed.entry(r.status.to_string()).or_default() += 1,
                        Err(_) => *failed.entry("error".into()).or_default() += 1,
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut ok, mut failed_by) = (0u64, BTreeMap::<String, u64>::new());
    for t in tasks {
        let (o, f) = t.await?;
        ok += o;
        for (k, n) in f {
            *failed_by.entry(k).or_default() += n;
        }
    }
    let failed: u64 = failed_by.values().sum();
    let calls_per_s = ok as f64 / start.elapsed().as_secs_f64();

    // Receipts: countersigned by every client, then committed.
    let v = &c.validators[0]
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no validator"))?
        .handle;
    let mut blocks = v.blocks.subscribe();
    let start = Instant::now();
    let mut accepted = 0u64;
    for cl in &clients {
        accepted += cl.countersign_pending().await?.0;
    }
    let mut committed = 0u64;
    let mut last_at = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed < accepted && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), blocks.recv()).await {
            Ok(Ok(b)) => {
                let n = b
                    .bits
                    .iter()
                    .filter(|x| matches!(x, emc_types::StateBit::Receipt(_)))
                    .count() as u64;
                if n > 0 {
                    committed += n;
                    last_at = start.elapsed();
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) => break,
            Err(_) => {}
        }
    }
    c.shutdown().await;
    Ok(json!({
        "router_added_latency_p50_us": r50.saturating_sub(d50),
        "router_added_latency_p99_us": r99.saturating_sub(d99),
        "direct_p50_us": d50,
        "direct_p99_us": d99,
        "routed_p50_us": r50,
        "routed_p99_us": r99,
        "calls_per_s": calls_per_s.round(),
        "calls_ok": ok,
        "calls_failed": failed,
        "calls_failed_by_status": failed_by,
        "clients": CLIENTS,
        "receipts_countersigned": accepted,
        "receipts_committed": committed,
        "receipts_per_s_committed": (committed as f64 / last_at.as_secs_f64().max(1e-3)).round(),
    }))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Pick-and-complete cycles per second with `nodes` nodes and 50 calls open.
fn picks_per_s(nodes: u32) -> f64 {
    let mut d = Dispatcher::new(DispatchConfig::default());
    let ids: Vec<NodeId> = (0..nodes)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            NodeId(b)
        })
        .collect();
    for id in &ids {
        d.upsert_node(*id, vec![("app".into(), "m".into())], 64);
    }
    let ms = 1_000_000u64;
    let mut now = 0u64;
    let mut open: VecDeque<Ticket> = VecDeque::new();
    let mut rnd = 0x1234_5678u64;
    let mut cycle = |d: &mut Dispatcher, now: &mut u64, open: &mut VecDeque<Ticket>| {
        *now += ms;
        rnd = rnd
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if let Ok(t) = d.pick("app", "m", None, *now, rnd) {
            open.push_back(t);
        }
        if open.len() > 50 {
            if let Some(t) = open.pop_front() {
                // Service time from the node's id: unequal nodes, as in the simulation.
                let extra = u64::from(t.node().0[0] % 4) * 20 * ms;
                d.on_first_byte(&t, *now + extra);
                d.on_success(t, *now + extra);
            }
        }
    };
    for _ in 0..10_000 {
        cycle(&mut d, &mut now, &mut open);
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1_000 {
            cycle(&mut d, &mut now, &mut open);
        }
        n += 1_000;
    }
    (n as f64 / start.elapsed().as_secs_f64()).round()
}
