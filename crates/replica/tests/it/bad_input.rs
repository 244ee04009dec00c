//! Bad input gets the IC's HTTP status and reject codes; nothing changes; the replica keeps
//! serving.

use crate::*;
use candid::{Decode, Encode, Nat};
use emc_embedded_ic::canister_id;
use emc_replica::cbor::{self, Value};
use emc_replica::ReplicaConfig;
use ic_agent::agent::{Envelope, EnvelopeContent, RejectCode, RejectResponse};
use ic_agent::export::reqwest;
use ic_agent::{AgentError, Identity};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::TransferArg;
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn signed(identity: &dyn Identity, content: EnvelopeContent) -> Vec<u8> {
    let sig = identity.sign(&content).unwrap();
    Envelope {
        content: Cow::Owned(content),
        sender_pubkey: sig.public_key,
        sender_sig: sig.signature,
        sender_delegation: sig.delegations,
    }
    .encode_bytes()
}

fn call(
    identity: &dyn Identity,
    canister: Principal,
    method: &str,
    arg: Vec<u8>,
    expiry: u64,
) -> EnvelopeContent {
    EnvelopeContent::Call {
        nonce: Some(now_ns().to_be_bytes().to_vec()),
        ingress_expiry: expiry,
        sender: identity.sender().unwrap(),
        canister_id: canister,
        method_name: method.into(),
        arg,
    }
}

async fn post(url: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// Sends `head` and `body` over a fresh connection and returns the answer's status code.
async fn raw_status(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut answer = vec![0; 64];
    let n = stream.read(&mut answer).await.unwrap();
    let line = String::from_utf8_lossy(&answer[..n]).into_owned();
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[test]
fn bad_requests_get_the_ic_answers_and_change_nothing() {
    runtime().block_on(async {
        let replica = start(None).await;
        let user = ed25519(2);
        let admin = agent(&replica, ed25519(1)).await;
        let ledger = install_ledger(&admin, &[principal_of(&user)]).await;
        let base = replica.url();
        let call_url = format!("{base}/api/v3/canister/{ledger}/call");
        let transfer = Encode!(&TransferArg {
            from_subaccount: None,
            to: Account::from(Principal::anonymous()),
            fee: None,
            created_at_time: None,
            memo: None,
            amount: Nat::from(5u64),
        })
        .unwrap();
        let expiry = now_ns() + 120_000_000_000;

        // The status endpoint: CBOR with the root key.
        let status = reqwest::get(format!("{base}/api/v2/status")).await.unwrap();
        assert_eq!(status.status().as_u16(), 200);
        let status = cbor::decode(&status.bytes().await.unwrap()).unwrap();
        assert_eq!(
            status.get("root_key"),
            Some(&Value::bytes(replica.root_key()))
        );

        // Malformed CBOR, a wrong content type, an oversized body, an unknown path.
        let (code, body) = post(&call_url, "application/cbor", b"\xa1not cbor".to_vec()).await;
        assert_eq!(code, 400, "{}", text(&body));
        let good = signed(&user, call(&user, ledger, "icrc1_transfer", transfer.clone(), expiry));
        let (code, body) = post(&call_url, "text/plain", good.clone()).await;
        assert_eq!(code, 400);
        assert!(text(&body).contains("content-type"), "{}", text(&body));
        // Oversized bodies, declared or streamed: 413 (raw TCP: a client that keeps writing
        // after the answer may see a broken pipe instead, as with any server that stops reading).
        let max = ReplicaConfig::default().max_request_bytes;
        let path = format!("/api/v3/canister/{ledger}/call");
        let declared = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/cbor\r\ncontent-length: {}\r\n\r\n",
            max + 1
        );
        assert_eq!(raw_status(replica.addr(), &declared, &[]).await, 413);
        let chunked = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/cbor\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
            max + 1
        );
        assert_eq!(raw_status(replica.addr(), &chunked, &vec![0; max + 1]).await, 413);
        let (code, _) = post(&format!("{base}/api/v9/canister/{ledger}/call"), "application/cbor", good.clone()).await;
        assert_eq!(code, 404);
        let (code, _) = post(&format!("{base}/api/v3/canister/not-a-principal/call"), "application/cbor", good.clone()).await;
        assert_eq!(code, 400);

        // A signature over other content, a sender that is not the key's, no signature.
        let mut envelope = cbor::decode(&good).unwrap();
        let Value::Tag(_, inner) = &mut envelope else { panic!() };
        let Value::Map(fields) = inner.as_mut() else { panic!() };
        for (k, v) in fields.iter_mut() {
            if *k == Value::text("sender_sig") {
                let Value::Bytes(sig) = v else { panic!() };
                sig[0] ^= 1;
            }
        }
        let (code, body) = post(&call_url, "application/cbor", envelope.encode()).await;
        assert_eq!(code, 400);
        assert!(text(&body).contains("Invalid signature"), "{}", text(&body));
        let mut c = call(&user, ledger, "icrc1_transfer", transfer.clone(), expiry);
        if let EnvelopeContent::Call { sender, .. } = &mut c {
            *sender = principal_of(&ed25519(1));
        }
        let (code, body) = post(&call_url, "application/cbor", signed(&user, c)).await;
        assert_eq!(code, 400);
        assert!(text(&body).contains("does not match"), "{}", text(&body));
        let unsigned = Envelope {
            content: Cow::Owned(call(&user, ledger, "icrc1_transfer", transfer.clone(), expiry)),
            sender_pubkey: None,
            sender_sig: None,
            sender_delegation: None,
        }
        .encode_bytes();
        let (code, body) = post(&call_url, "application/cbor", unsigned).await;
        assert_eq!(code, 400);
        assert!(text(&body).contains("missing sender_pubkey"), "{}", text(&body));

        // Expired and too-far-future ingress expiry.
        for expiry in [now_ns() - 60_000_000_000, now_ns() + 600_000_000_000] {
            let env = signed(&user, call(&user, ledger, "icrc1_transfer", transfer.clone(), expiry));
            let (code, body) = post(&call_url, "application/cbor", env).await;
            assert_eq!(code, 400);
            assert!(text(&body).starts_with("Invalid request expiry: "), "{}", text(&body));
        }

        // A query envelope at the call endpoint.
        let query = EnvelopeContent::Query {
            ingress_expiry: expiry,
            sender: user.sender().unwrap(),
            canister_id: ledger,
            method_name: "icrc1_fee".into(),
            arg: Encode!().unwrap(),
            nonce: None,
        };
        let (code, _) = post(&call_url, "application/cbor", signed(&user, query)).await;
        assert_eq!(code, 400);

        // Unknown canister and unknown method: non-replicated rejections with the IC's codes.
        let nowhere = canister_id(500);
        let env = signed(&user, call(&user, nowhere, "icrc1_transfer", transfer.clone(), expiry));
        let (code, body) = post(&format!("{base}/api/v3/canister/{nowhere}/call"), "application/cbor", env).await;
        assert_eq!(code, 200);
        let reply = cbor::decode(&body).unwrap();
        assert_eq!(reply.get("status"), Some(&Value::text("non_replicated_rejection")));
        assert_eq!(reply.get("reject_code"), Some(&Value::Uint(3)));
        assert_eq!(reply.get("error_code"), Some(&Value::text("IC0301")));
        let a = agent(&replica, ed25519(2)).await;
        let err = a
            .update(&ledger, "no_such_method")
            .with_arg(Encode!().unwrap())
            .call_and_wait()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgentError::UncertifiedReject { reject: RejectResponse { reject_code: RejectCode::CanisterError, error_code: Some(c), .. }, .. } if c == "IC0536"),
            "{err:?}"
        );
        let err = a
            .query(&ledger, "no_such_method")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgentError::UncertifiedReject { reject: RejectResponse { reject_code: RejectCode::CanisterError, .. }, .. }),
            "{err:?}"
        );
        // A canister that traps: a certified reject (the call ran and was rolled back).
        let err = a
            .update(&ledger, "icrc1_transfer")
            .with_arg(b"DIDL garbage".to_vec())
            .call_and_wait()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgentError::CertifiedReject { reject: RejectResponse { reject_code: RejectCode::CanisterError, .. }, .. }),
            "{err:?}"
        );

        // Reading another sender's request status is forbidden.
        let env = signed(&user, call(&user, ledger, "icrc1_transfer", transfer.clone(), expiry));
        let (code, _) = post(&format!("{base}/api/v2/canister/{ledger}/call"), "application/cbor", env.clone()).await;
        assert_eq!(code, 202);
        let request_id = emc_replica::envelope::authenticate(&env, now_ns()).unwrap().request_id;
        let other = ed25519(3);
        let read = EnvelopeContent::ReadState {
            ingress_expiry: expiry,
            sender: other.sender().unwrap(),
            paths: vec![vec!["request_status".into(), request_id.to_vec().into()]],
        };
        let (code, _) = post(&format!("{base}/api/v2/canister/{ledger}/read_state"), "application/cbor", signed(&other, read)).await;
        assert_eq!(code, 403);
        // The sender itself polls the v2 call's result, as agent-js does.
        let (status, _) = a
            .request_status_raw(&ic_agent::RequestId::new(&request_id), ledger)
            .await
            .unwrap();
        assert!(
            matches!(status, ic_agent::agent::RequestStatusResponse::Replied(_)),
            "{status:?}"
        );

        // Nothing but the two accepted transfers (5 each, plus fees) changed, and it still serves.
        let reply = a
            .query(&ledger, "icrc1_balance_of")
            .with_arg(Encode!(&Account::from(principal_of(&user))).unwrap())
            .call()
            .await
            .unwrap();
        // The one v2 call above is the only transfer that was accepted.
        assert_eq!(Decode!(&reply, Nat).unwrap(), Nat::from(GENESIS - 5 - FEE));
        replica.shutdown().await;
    });
}
