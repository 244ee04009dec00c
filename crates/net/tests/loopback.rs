//! Real QUIC on 127.0.0.1: admission, framing, peers, requests, fault injection.

mod common;

use bytes::Bytes;
use common::*;
use emc_net::frame::{self, FrameError};
use emc_net::{close_code, Call, Event, NetConfig, NetError, Role, Roles};
use std::time::Duration;

const V: Roles = Roles::ALL;

fn validators(seeds: &[u8]) -> Vec<(u8, Roles)> {
    seeds
        .iter()
        .map(|s| (*s, Roles::from(Role::Validator)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_exchange_frames_both_ways() {
    let auth = authorizer(&validators(&[1, 2]));
    let mut a = node(1, Role::Validator, auth.clone(), config());
    let mut b = node(2, Role::Validator, auth, config());
    a.net.add_peer(b.id, b.addr);
    assert_eq!(wait_up(&mut a.events, b.id).await, Role::Validator);
    assert_eq!(wait_up(&mut b.events, a.id).await, Role::Validator);

    for i in 0..200u32 {
        a.net.send(&b.id, 1, i.to_be_bytes().to_vec()).unwrap();
        b.net
            .send(&a.id, 2, Bytes::from(vec![i as u8; i as usize]))
            .unwrap();
    }
    for i in 0..200u32 {
        let (kind, payload) = next_frame(&mut b.events, a.id).await;
        assert_eq!((kind, &payload[..]), (1, &i.to_be_bytes()[..]));
        let (kind, payload) = next_frame(&mut a.events, b.id).await;
        assert_eq!((kind, payload.len()), (2, i as usize));
    }
    let (ma, mb) = (a.net.metrics(), b.net.metrics());
    assert_eq!((ma.frames_out, ma.frames_in), (200, 200));
    assert_eq!((mb.frames_out, mb.frames_in), (200, 200));
    assert_eq!(ma.bytes_out, mb.bytes_in);
    assert_eq!((ma.connects, mb.connects), (1, 1));
    let pa = a.net.peers();
    assert_eq!(pa.len(), 1);
    assert!(pa[0].outbound && !b.net.peers()[0].outbound);
    assert!(a.net.rtt(&b.id).is_some());
    // Reserved kinds are the transport's.
    assert!(matches!(
        a.net.send(&b.id, frame::KIND_HELLO, vec![]),
        Err(NetError::ReservedKind(_))
    ));
    a.net.close().await;
    wait_down(&mut b.events, a.id).await;
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_mesh_dedupe_and_role_broadcast() {
    // Validators 3 and 4 and router 5 all dial each other; compute 6 dials only the router,
    // which does not list it as a peer but accepts it.
    let auth = authorizer(&[
        (3, Role::Validator.into()),
        (4, Role::Validator.into()),
        (5, Role::Router.into()),
        (6, Role::Compute.into()),
    ]);
    let mut v3 = node(3, Role::Validator, auth.clone(), config());
    let mut v4 = node(4, Role::Validator, auth.clone(), config());
    let mut r5 = node(5, Role::Router, auth.clone(), config());
    let mut c6 = node(6, Role::Compute, auth, config());
    for (x, others) in [(&v3, [&v4, &r5]), (&v4, [&v3, &r5]), (&r5, [&v3, &v4])] {
        for o in others {
            x.net.add_peer(o.id, o.addr);
        }
    }
    c6.net.add_peer(r5.id, r5.addr);
    wait_up(&mut c6.events, r5.id).await;
    eventually("full mesh", || {
        v3.net.peers().len() == 2 && v4.net.peers().len() == 2 && r5.net.peers().len() == 3
    })
    .await;
    // Simultaneous dials settle on one connection per pair, the same at both ends.
    for (x, y) in [(&v3, &v4), (&v3, &r5), (&v4, &r5)] {
        eventually("both ends keep the same connection", || {
            let xy = x.net.peers().into_iter().find(|p| p.node == y.id);
            let yx = y.net.peers().into_iter().find(|p| p.node == x.id);
            matches!((xy, yx), (Some(xy), Some(yx)) if xy.outbound != yx.outbound)
        })
        .await;
    }

    // Broadcast to validators only.
    assert_eq!(
        r5.net
            .broadcast(9, &b"to validators"[..], Role::Validator.into())
            .unwrap(),
        2
    );
    assert_eq!(r5.net.broadcast(10, &b"to all"[..], V).unwrap(), 3);
    assert_eq!(next_frame(&mut v3.events, r5.id).await.0, 9);
    assert_eq!(next_frame(&mut v4.events, r5.id).await.0, 9);
    assert_eq!(next_frame(&mut v3.events, r5.id).await.0, 10);
    assert_eq!(
        next_frame(&mut c6.events, r5.id).await.0,
        10,
        "compute got only the second"
    );
    // The router sees the compute node's frames with its role.
    c6.net.send(&r5.id, 11, &b"result"[..]).unwrap();
    let ev = wait_for(&mut r5.events, |e| {
        matches!(e, Event::Frame { kind: 11, .. })
    })
    .await;
    assert!(matches!(
        ev,
        Event::Frame {
            role: Role::Compute,
            ..
        }
    ));
    for n in [&v3, &v4, &r5, &c6] {
        n.net.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_refused_both_ways() {
    // 7 knows 8; 8 does not know 7.
    let mut seven = node(7, Role::Validator, authorizer(&validators(&[8])), config());
    let mut eight = node(8, Role::Validator, authorizer(&validators(&[9])), config());
    // 7 dials 8: 8's client-certificate check refuses 7.
    assert!(seven.net.connect(eight.id, eight.addr).await.is_err());
    assert_eq!(eight.net.metrics().refused_unknown_key, 1);
    // 8 dials 7: 8 refuses the server's key itself.
    let err = eight.net.connect(seven.id, seven.addr).await.unwrap_err();
    assert!(matches!(err, NetError::Connection(_)), "{err}");
    assert_eq!(eight.net.metrics().refused_unknown_key, 2);
    // A key nobody lists, by hand.
    let (_ep, conn) = try_raw_connect(99, eight.addr).await;
    // The client may finish its side of the handshake before the server refuses it.
    if let Ok(conn) = conn {
        if let Ok((mut send, mut recv)) = conn.open_bi().await {
            let _ = send.write_all(b"x").await;
            assert!(recv.read_to_end(10).await.is_err());
        }
    }
    assert_eq!(eight.net.metrics().refused_unknown_key, 3);
    assert!(!seven.net.is_connected(&eight.id) && !eight.net.is_connected(&seven.id));
    assert_none(&mut seven.events, Duration::from_millis(100), |_| true).await;
    assert_none(&mut eight.events, Duration::from_millis(1), |_| true).await;
    seven.net.close().await;
    eight.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_checked_against_the_registry() {
    // 10 is registered as compute only.
    let auth = authorizer(&[(10, Role::Compute.into()), (11, Role::Validator.into())]);
    let fake_validator = node(10, Role::Validator, auth.clone(), config());
    let mut v = node(11, Role::Validator, auth.clone(), config());
    match fake_validator.net.connect(v.id, v.addr).await {
        Err(NetError::Refused { code, .. }) => {
            assert_eq!(code, u64::from(close_code::ROLE_NOT_AUTHORIZED))
        }
        other => panic!("expected a role refusal, got {other:?}"),
    }
    assert_eq!(v.net.metrics().refused_role, 1);
    // The acceptor's claim is checked too: 11 dials 10, which answers as a validator.
    assert!(v
        .net
        .connect(fake_validator.id, fake_validator.addr)
        .await
        .is_err());
    assert_eq!(v.net.metrics().refused_role, 2);
    // (10 admitted 11, a registered validator, before 11 read the answer and refused it.)
    assert_none(&mut v.events, Duration::from_millis(100), |e| {
        matches!(e, Event::PeerUp { .. })
    })
    .await;

    // Registered for the role it claims: admitted. Then deregistered: revalidate closes it.
    let mut c = node(10, Role::Compute, auth.clone(), config());
    assert_eq!(c.net.connect(v.id, v.addr).await.unwrap(), Role::Validator);
    wait_up(&mut v.events, c.id).await;
    auth.remove(&c.id);
    assert_eq!(v.net.revalidate(), 1);
    wait_down(&mut v.events, c.id).await;
    wait_down(&mut c.events, v.id).await;
    for n in [&fake_validator, &v, &c] {
        n.net.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_expected_node_id_is_refused() {
    let auth = authorizer(&validators(&[12, 13, 14]));
    let a = node(12, Role::Validator, auth.clone(), config());
    let b = node(13, Role::Validator, auth, config());
    // Dial b's address expecting 14.
    let err = a.net.connect(id(14), b.addr).await.unwrap_err();
    assert!(matches!(err, NetError::Connection(_)), "{err}");
    let m = a.net.metrics();
    assert_eq!((m.refused_wrong_node_id, m.connects), (1, 0));
    assert!(!b.net.is_connected(&a.id));
    a.net.close().await;
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused() {
    let auth = authorizer(&validators(&[15, 16, 17]));
    let small = NetConfig {
        max_frame_bytes: 1024,
        ..config()
    };
    let mut a = node(15, Role::Validator, auth.clone(), config());
    let mut b = node(16, Role::Validator, auth.clone(), small);
    a.net.add_peer(b.id, b.addr);
    wait_up(&mut b.events, a.id).await;
    wait_up(&mut a.events, b.id).await;
    // The sender learned b's cap in the hello: refused locally, with an error.
    match a.net.send(&b.id, 1, vec![0u8; 1025]) {
        Err(NetError::Frame(FrameError::TooLarge {
            len: 1025,
            max: 1024,
        })) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.net.request(&b.id, 1, vec![0u8; 2000], SOON).await,
        Err(NetError::Frame(_))
    ));
    a.net.send(&b.id, 1, vec![0u8; 1024]).unwrap();
    assert_eq!(next_frame(&mut b.events, a.id).await.1.len(), 1024);
    // Our own cap applies to what we send, whatever the peer's.
    assert!(b.net.send(&a.id, 1, vec![0u8; 1025]).is_err());

    // A misbehaving peer that announces an oversized frame anyway: b closes that
    // connection (protocol violation) and carries on.
    let (_ep, raw) = raw_hello(17, b.addr, Role::Validator).await;
    wait_up(&mut b.events, id(17)).await;
    let mut s = raw.open_uni().await.unwrap();
    s.write_all(&frame::encode_header(1, 1 << 20, usize::MAX).unwrap())
        .await
        .unwrap();
    // (b may already have closed the connection on seeing the header.)
    let _ = s.write_all(&[0u8; 4096]).await;
    match raw.closed().await {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(
                c.error_code.into_inner(),
                u64::from(close_code::PROTOCOL_VIOLATION)
            )
        }
        other => panic!("{other:?}"),
    }
    wait_down(&mut b.events, id(17)).await;
    assert_eq!(b.net.metrics().frames_refused_in, 1);
    a.net.send(&b.id, 2, &b"still fine"[..]).unwrap();
    assert_eq!(next_frame(&mut b.events, a.id).await.0, 2);
    a.net.close().await;
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_hellos_are_refused() {
    let auth = authorizer(&validators(&[18, 19]));
    let b = node(18, Role::Validator, auth, config());
    // A frame of the wrong kind instead of the hello.
    let (_ep, raw) = raw_connect(19, b.addr).await;
    let (mut send, _recv) = raw.open_bi().await.unwrap();
    send.write_all(&frame::encode(1, b"hi", 64).unwrap())
        .await
        .unwrap();
    match raw.closed().await {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code.into_inner(), u64::from(close_code::BAD_HELLO))
        }
        other => panic!("{other:?}"),
    }
    // Another protocol version.
    let (_ep2, raw) = raw_connect(19, b.addr).await;
    let (mut send, _recv) = raw.open_bi().await.unwrap();
    send.write_all(&frame::encode(frame::KIND_HELLO, &[0, 9, 1, 0, 0, 1, 0], 64).unwrap())
        .await
        .unwrap();
    match raw.closed().await {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(
                c.error_code.into_inner(),
                u64::from(close_code::VERSION_MISMATCH)
            )
        }
        other => panic!("{other:?}"),
    }
    let m = b.net.metrics();
    assert_eq!(
        (m.refused_bad_hello, m.refused_version, m.connects),
        (1, 1, 0)
    );
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_peer_restarts_on_the_same_port() {
    let auth = authorizer(&validators(&[20, 21]));
    let mut a = node(20, Role::Validator, auth.clone(), config());
    let mut b = node(21, Role::Validator, auth.clone(), config());
    let (b_addr, b_id) = (b.addr, b.id);
    a.net.add_peer(b.id, b_addr);
    wait_up(&mut a.events, b.id).await;
    a.net.send(&b.id, 1, &b"before"[..]).unwrap();
    assert_eq!(&next_frame(&mut b.events, a.id).await.1[..], b"before");

    b.net.close().await;
    drop(b);
    wait_down(&mut a.events, b_id).await;
    assert!(matches!(
        a.net.send(&b_id, 1, &b"x"[..]),
        Err(NetError::NotConnected(_))
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Re-bind on the same port (the old socket may take a moment to be released).
    let mut cfg = config();
    cfg.listen_addr = b_addr;
    let mut b = loop {
        let identity = emc_net::Identity::from_signing_key(key(21)).unwrap();
        match emc_net::Network::bind(cfg.clone(), identity, auth.clone(), Role::Validator) {
            Ok((net, events)) => {
                break Node {
                    net,
                    events,
                    id: id(21),
                    addr: b_addr,
                }
            }
            Err(NetError::Bind(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e}"),
        }
    };
    wait_up(&mut a.events, b.id).await;
    wait_up(&mut b.events, a.id).await;
    a.net.send(&b.id, 1, &b"after"[..]).unwrap();
    assert_eq!(&next_frame(&mut b.events, a.id).await.1[..], b"after");
    b.net.send(&a.id, 2, &b"back"[..]).unwrap();
    assert_eq!(&next_frame(&mut a.events, b.id).await.1[..], b"back");
    let m = a.net.metrics();
    assert_eq!((m.connects, m.reconnects), (2, 1));
    a.net.close().await;
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answers_timeouts_and_no_response() {
    let auth = authorizer(&validators(&[22, 23]));
    let mut a = node(22, Role::Validator, auth.clone(), config());
    let b = node(23, Role::Validator, auth, config());
    a.net.add_peer(b.id, b.addr);
    wait_up(&mut a.events, b.id).await;
    // b's application: kind 1 echoes reversed, kind 2 never answers (keeps the responder),
    // kind 3 drops the responder.
    let mut b_events = b.events;
    let app = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(ev) = b_events.recv().await {
            if let Event::Request {
                kind,
                payload,
                responder,
                role,
                ..
            } = ev
            {
                assert_eq!(role, Role::Validator);
                match kind {
                    1 => {
                        let mut v = payload.to_vec();
                        v.reverse();
                        responder.respond(v).unwrap();
                    }
                    2 => held.push(responder),
                    _ => drop(responder),
                }
            }
        }
    });
    let answer = a
        .net
        .request(&b.id, 1, &b"ping"[..], Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(&answer[..], b"gnip");
    // Many concurrent requests.
    let mut handles = Vec::new();
    for i in 0..50u8 {
        let net = a.net.clone();
        let peer = b.id;
        handles.push(tokio::spawn(async move {
            net.request(&peer, 1, vec![i, 0], Duration::from_secs(3))
                .await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(&h.await.unwrap().unwrap()[..], &[0, i as u8]);
    }
    let started = tokio::time::Instant::now();
    assert!(matches!(
        a.net
            .request(&b.id, 2, &b"?"[..], Duration::from_millis(200))
            .await,
        Err(NetError::Timeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(matches!(
        a.net
            .request(&b.id, 3, &b"?"[..], Duration::from_secs(2))
            .await,
        Err(NetError::NoResponse)
    ));
    let m = a.net.metrics();
    assert_eq!((m.requests_out, m.request_timeouts), (53, 1));
    assert!(matches!(
        a.net.request(&id(99), 1, &b"?"[..], SOON).await,
        Err(NetError::NotConnected(_))
    ));
    a.net.close().await;
    b.net.close().await;
    app.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_peers_are_silenced_then_heal() {
    let auth = authorizer(&validators(&[24, 25]));
    let mut a = node(24, Role::Validator, auth.clone(), config());
    let mut b = node(25, Role::Validator, auth, config());
    a.net.add_peer(b.id, b.addr);
    wait_up(&mut a.events, b.id).await;
    wait_up(&mut b.events, a.id).await;

    a.net.set_blocked(b.id, true);
    for _ in 0..5 {
        a.net.send(&b.id, 1, &b"lost"[..]).unwrap();
        b.net.send(&a.id, 2, &b"lost"[..]).unwrap();
    }
    assert!(matches!(
        b.net
            .request(&a.id, 3, &b"probe"[..], Duration::from_millis(300))
            .await,
        Err(NetError::Timeout)
    ));
    assert!(matches!(
        a.net
            .request(&b.id, 3, &b"probe"[..], Duration::from_millis(100))
            .await,
        Err(NetError::Timeout)
    ));
    // Nothing crosses, in either direction, and the connection stays up through several
    // keep-alive intervals.
    assert_none(&mut b.events, Duration::from_millis(500), |e| {
        matches!(
            e,
            Event::Frame { .. } | Event::Request { .. } | Event::PeerDown { .. }
        )
    })
    .await;
    assert_none(&mut a.events, Duration::from_millis(1), |e| {
        matches!(
            e,
            Event::Frame { .. } | Event::Request { .. } | Event::PeerDown { .. }
        )
    })
    .await;
    assert!(a.net.is_connected(&b.id) && b.net.is_connected(&a.id));
    // 5 frames out, 5 frames in, the outgoing request, the incoming one.
    assert_eq!(a.net.metrics().dropped_blocked, 12);

    a.net.set_blocked(b.id, false);
    a.net.send(&b.id, 1, &b"healed"[..]).unwrap();
    b.net.send(&a.id, 2, &b"healed"[..]).unwrap();
    assert_eq!(&next_frame(&mut b.events, a.id).await.1[..], b"healed");
    assert_eq!(&next_frame(&mut a.events, b.id).await.1[..], b"healed");
    let m = a.net.metrics();
    assert_eq!((m.connects, m.reconnects), (1, 0));
    a.net.close().await;
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_with_gso_off() {
    let auth = authorizer(&validators(&[26, 27]));
    let no_gso = NetConfig {
        gso: false,
        ..config()
    };
    let mut a = node(26, Role::Validator, auth.clone(), no_gso.clone());
    let mut b = node(27, Role::Validator, auth, no_gso);
    a.net.add_peer(b.id, b.addr);
    wait_up(&mut a.events, b.id).await;
    let big = Bytes::from(vec![7u8; 2 << 20]);
    a.net.send(&b.id, 1, big.clone()).unwrap();
    a.net.send(&b.id, 2, &b"small"[..]).unwrap();
    assert_eq!(next_frame(&mut b.events, a.id).await, (1, big));
    assert_eq!(next_frame(&mut b.events, a.id).await.0, 2);
    a.net.close().await;
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_drops_the_oldest() {
    let auth = authorizer(&validators(&[28, 29]));
    let mut a = node(
        28,
        Role::Validator,
        auth.clone(),
        NetConfig {
            peer_queue_len: 4,
            ..config()
        },
    );
    let mut b = node(29, Role::Validator, auth, config());
    a.net.add_peer(b.id, b.addr);
    wait_up(&mut a.events, b.id).await;
    // Enqueue a burst far faster than it can be written: some oldest frames are dropped,
    // the newest always arrives, order is kept.
    for i in 0..1000u32 {
        a.net.send(&b.id, 1, i.to_be_bytes().to_vec()).unwrap();
    }
    let mut last = None;
    let mut received = 0;
    loop {
        let (_, p) = next_frame(&mut b.events, a.id).await;
        let i = u32::from_be_bytes(p[..].try_into().unwrap());
        assert!(last.is_none_or(|l| i > l), "order kept");
        last = Some(i);
        received += 1;
        if i == 999 {
            break;
        }
    }
    let m = a.net.metrics();
    assert_eq!(m.dropped_queue_full + received, 1000);
    a.net.close().await;
    b.net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_converge_on_one_connection() {
    let auth = authorizer(&validators(&[30, 31]));
    for round in 0..3 {
        let mut a = node(30, Role::Validator, auth.clone(), config());
        let mut b = node(31, Role::Validator, auth.clone(), config());
        // `connect` dials at once (no head start): both connections usually get established.
        let (ra, rb) = tokio::join!(a.net.connect(b.id, b.addr), b.net.connect(a.id, a.addr));
        assert!(ra.is_ok() || rb.is_ok(), "round {round}: {ra:?} {rb:?}");
        // Both sides end on one shared connection (the dedupe prefers the one dialed by the
        // smaller id; under load the race can settle on the other, which is as good: what
        // matters is one connection both sides agree on).
        let one = |n: &Node, other| {
            let p = n.net.peers();
            (p.len() == 1 && p[0].node == other).then(|| p[0].outbound)
        };
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            if let (Some(x), Some(y)) = (one(&a, b.id), one(&b, a.id)) {
                if x != y {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: dials {ra:?} {rb:?}; a {:?}; b {:?}",
                a.net.peers(),
                b.net.peers()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        wait_up(&mut a.events, b.id).await;
        wait_up(&mut b.events, a.id).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.net.send(&b.id, 1, &b"a"[..]).unwrap();
        b.net.send(&a.id, 1, &b"b"[..]).unwrap();
        assert_eq!(&next_frame(&mut b.events, a.id).await.1[..], b"a");
        assert_eq!(&next_frame(&mut a.events, b.id).await.1[..], b"b");
        a.net.close().await;
        b.net.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_calls_carry_frames_both_ways_and_cancel() {
    let auth = authorizer(&validators(&[40, 41]));
    let mut a = node(40, Role::Validator, auth.clone(), config());
    let b = node(41, Role::Validator, auth, config());
    a.net.add_peer(b.id, b.addr);
    wait_up(&mut a.events, b.id).await;
    // b's application: kind 7 echoes each frame back (kind + 1) after the head, then
    // finishes; kind 8 reads until its caller goes away and reports how the call ended.
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::channel::<bool>(4);
    let mut b_events = b.events;
    let app = tokio::spawn(async move {
        while let Some(ev) = b_events.recv().await {
            let Event::Call {
                kind, head, call, ..
            } = ev
            else {
                continue;
            };
            let ended_tx = ended_tx.clone();
            tokio::spawn(async move {
                let Call {
                    mut sender,
                    mut receiver,
                } = call;
                match kind {
                    7 => {
                        sender.send(1, head).await.unwrap();
                        while let Some((k, p)) = receiver.recv().await.unwrap() {
                            sender.send(k + 1, p).await.unwrap();
                        }
                        sender.finish();
                    }
                    _ => {
                        sender.send(1, Bytes::from_static(b"ok")).await.unwrap();
                        let r = loop {
                            match receiver.recv().await {
                                Ok(Some(_)) => {}
                                Ok(None) => break true,
                                Err(_) => break false,
                            }
                        };
                        ended_tx.send(r).await.unwrap();
                    }
                }
            });
        }
    });
    let call = a.net.open_call(&b.id, 7, &b"head"[..], SOON).await.unwrap();
    let Call {
        mut sender,
        mut receiver,
    } = call;
    assert_eq!(
        receiver.recv().await.unwrap(),
        Some((1, Bytes::from_static(b"head")))
    );
    for i in 0..20u8 {
        sender.send(10, Bytes::from(vec![i; 1000])).await.unwrap();
    }
    sender.finish();
    for i in 0..20u8 {
        let (k, p) = receiver.recv().await.unwrap().unwrap();
        assert_eq!((k, p.len(), p[0]), (11, 1000, i));
    }
    assert_eq!(receiver.recv().await.unwrap(), None);

    // A caller that goes away mid-call: the peer's receiver sees an error, not a clean end.
    // (A call reset before its head arrived is never delivered.)
    let call = a.net.open_call(&b.id, 8, &b""[..], SOON).await.unwrap();
    let Call {
        mut sender,
        mut receiver,
    } = call;
    sender.send(3, Bytes::from_static(b"x")).await.unwrap();
    assert!(receiver.recv().await.unwrap().is_some());
    drop(sender);
    drop(receiver);
    let ended = tokio::time::timeout(SOON, ended_rx.recv()).await.unwrap();
    assert_eq!(ended, Some(false));
    // A finished call ends cleanly.
    let call = a.net.open_call(&b.id, 8, &b""[..], SOON).await.unwrap();
    let Call { sender, receiver } = call;
    sender.finish();
    let ended = tokio::time::timeout(SOON, ended_rx.recv()).await.unwrap();
    assert_eq!(ended, Some(true));
    drop(receiver);
    // Reserved kinds and unknown peers are refused.
    assert!(matches!(
        a.net.open_call(&b.id, 0xF5, &b""[..], SOON).await,
        Err(NetError::ReservedKind(_))
    ));
    assert!(matches!(
        a.net.open_call(&id(99), 7, &b""[..], SOON).await,
        Err(NetError::NotConnected(_))
    ));
    a.net.close().await;
    b.net.close().await;
    app.abort();
}
