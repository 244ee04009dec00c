//! A replica attached to an embedded IC that another thread owns (the devnet's seam): ic-agent
//! installs and calls the ledger over HTTP with certificate verification on, the owner's
//! client sees the same state, static files are served, and the replica stops when its owner
//! does.

use super::*;
use emc_ic_client::{EmbeddedClient, EmbeddedHost, IcClient};
use emc_replica::{IcJob, IcOwner, StaticFile};
use icrc_ledger_types::icrc1::transfer::TransferArg;

struct Owner(EmbeddedClient);

impl IcOwner for Owner {
    fn run(&self, job: IcJob) {
        drop(self.0.with_ic(move |ic| {
            job(ic);
            Ok(())
        }));
    }
}

#[test]
fn attached_replica_serves_the_owners_ic() {
    runtime().block_on(async {
        let host = EmbeddedHost::wall_clock().unwrap();
        let files = [(
            "/explorer/config.json".to_string(),
            StaticFile::new("config.json", r#"{"ok":true}"#),
        )];
        let replica = emc_replica::start_attached(
            ReplicaConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                snapshot_interval: None,
                static_files: Arc::new(files.into_iter().collect()),
                ..ReplicaConfig::default()
            },
            Owner(host.client(Principal::anonymous())),
        )
        .await
        .unwrap();
        let admin = agent(&replica, ed25519(1)).await;
        let alice = principal_of(&ed25519(2));
        let ledger = install_ledger(&admin, &[principal_of(&ed25519(1))]).await;
        // The owner's thread holds the canister the agent installed.
        let ids = host.with_ic(|ic| Ok(ic.canister_ids())).await.unwrap();
        assert!(ids.contains(&ledger));
        // A certified update over HTTP, then a query from the owner's side.
        let arg = TransferArg {
            from_subaccount: None,
            to: Account::from(alice),
            fee: None,
            created_at_time: None,
            memo: None,
            amount: candid::Nat::from(5_000u64),
        };
        admin
            .update(&ledger, "icrc1_transfer")
            .with_arg(Encode!(&arg).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        let reply = host
            .client(alice)
            .query(
                ledger,
                "icrc1_balance_of",
                Encode!(&Account::from(alice)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(Decode!(&reply, candid::Nat).unwrap(), 5_000u64);
        // The static file, with its content type; an unknown path is still a 404.
        let url = format!("{}/explorer/config.json", replica.url());
        let (status, ctype, body) = http_get(&url).await;
        assert_eq!(
            (status, ctype.as_str(), body.as_str()),
            (200, "application/json", r#"{"ok":true}"#)
        );
        assert_eq!(
            http_get(&format!("{}/explorer/nope", replica.url()))
                .await
                .0,
            404
        );
        // A state directory or a manual clock is refused when attached.
        let refused = emc_replica::start_attached(
            ReplicaConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                clock: emc_replica::Clock::Manual,
                ..ReplicaConfig::default()
            },
            Owner(host.client(Principal::anonymous())),
        )
        .await;
        assert!(matches!(refused, Err(emc_replica::StartError::Attached(_))));
        // The owner stops: the replica answers 503 (no panic, no hang).
        host.shutdown();
        let status = admin
            .query(&ledger, "icrc1_balance_of")
            .with_arg(Encode!(&Account::from(alice)).unwrap())
            .call()
            .await;
        assert!(status.is_err());
        replica.shutdown().await;
    });
}

/// A plain HTTP/1.1 GET: (status, content type, body).
async fn http_get(url: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("")
        .to_string();
    (status, ctype, body.to_string())
}
