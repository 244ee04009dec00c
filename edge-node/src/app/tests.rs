use super::*;
use emc_epochs::data::{chunk_hash, root_from_proof};

const L: u64 = 10;

fn id(i: u8) -> NodeId {
    NodeId([i; 32])
}

fn cfg() -> AppConfig {
    AppConfig {
        epoch_length: L,
        chunk_records: 2,
        ..AppConfig::default()
    }
}

fn registry() -> Vec<RegistryNode> {
    let node = |i: u8, role: Role, stake: u64, multiplier: u64| RegistryNode {
        id: id(i),
        owner: Principal::from_slice(&[i, 1]),
        role,
        stake_e8s: stake,
        multiplier,
    };
    vec![
        node(1, Role::Validator, 100, 0),
        node(2, Role::Validator, 100, 0),
        node(3, Role::Validator, 100, 0),
        node(4, Role::Validator, 100, 0),
        node(5, Role::Router, 10, 0),
        node(6, Role::Compute, 0, 10_000),
    ]
}

/// A block by `proposer` at `height` with the proposer's application's proposal.
fn block(app: &mut EdgeApp, proposer: u8, height: u64) -> Block {
    let bits = app.propose(height, 0);
    Block::new(height, Hash([0; 32]), id(proposer), height, bits)
}

/// Four validators take turns for `blocks` heights; each saw the others and the router
/// online, and validator 1 measured the compute node at E = 2.0 in every block of its own.
fn run(blocks: u64) -> Vec<EdgeApp> {
    let mut apps: Vec<EdgeApp> = (1..=4).map(|i| EdgeApp::new(id(i), cfg())).collect();
    for a in &mut apps {
        a.set_registry(registry());
        for s in 1..=5 {
            a.observe(id(s), true);
        }
    }
    for h in 1..=blocks {
        let p = (h % 4) as usize;
        if p == 0 {
            apps[0].record_poc(id(6), 20_000, true);
        }
        let b = block(&mut apps[p], p as u8 + 1, h);
        for a in &apps {
            a.validate(&b).unwrap();
        }
        for a in &mut apps {
            a.on_commit(&b);
        }
    }
    apps
}

#[test]
fn a_proposer_reports_only_itself_once_per_subject() {
    let mut app = EdgeApp::new(id(1), cfg());
    app.observe(id(1), true); // itself: ignored
    app.observe(id(2), true);
    app.observe(id(2), false); // latest outcome wins
    app.observe(id(3), true);
    let b = block(&mut app, 1, 1);
    assert_eq!(b.bits.len(), 2);
    assert!(matches!(&b.bits[0], StateBit::Liveness(l) if l.subject == id(2) && !l.online));
    app.validate(&b).unwrap();

    let liveness = |observer: u8, subject: u8| {
        StateBit::Liveness(LivenessObservation {
            observer: id(observer),
            subject: id(subject),
            online: true,
        })
    };
    let with = |bits: Vec<StateBit>| Block::new(1, Hash([0; 32]), id(1), 1, bits);
    assert!(
        app.validate(&with(vec![liveness(2, 3)])).is_err(),
        "another observer"
    );
    assert!(app.validate(&with(vec![liveness(1, 1)])).is_err(), "itself");
    assert!(
        app.validate(&with(vec![liveness(1, 3), liveness(1, 3)]))
            .is_err(),
        "twice"
    );
    let poc = |validator: u8, e: u64, passed: bool| {
        StateBit::Poc(PocResult {
            node: id(6),
            e_fixed: e,
            passed,
            validator: id(validator),
        })
    };
    assert!(app.validate(&with(vec![poc(1, 5, true)])).is_ok());
    assert!(
        app.validate(&with(vec![poc(2, 5, true)])).is_err(),
        "another validator"
    );
    assert!(
        app.validate(&with(vec![poc(1, 5, false)])).is_err(),
        "failed with an E"
    );
    assert!(app
        .validate(&with(vec![poc(1, MAX_E_FIXED + 1, true)]))
        .is_err());
}

#[test]
fn the_closing_block_commits_to_the_epoch_records_and_every_validator_agrees() {
    let apps = run(L);
    let data = apps[0].epoch_data(0).expect("epoch 0 closed");
    for a in &apps[1..] {
        assert_eq!(
            a.epoch_data(0),
            Some(data),
            "same records on every validator"
        );
    }
    let closing = Block::new(L, Hash([0; 32]), id(3), L, vec![]);
    assert_eq!(apps[0].state_root(&closing), header_hash(&data.header));
    let other = Block::new(L - 1, Hash([0; 32]), id(3), L - 1, vec![]);
    assert_eq!(
        apps[0].state_root(&other),
        other.hash(),
        "not a closing block"
    );

    let by: BTreeMap<NodeId, &NodeRecord> = data.records.iter().map(|r| (r.node, r)).collect();
    assert!(data.records.windows(2).all(|w| w[0].node < w[1].node));
    for v in 1..=4 {
        // Every block: the proposer itself or seen online by the proposer.
        assert_eq!(by[&id(v)].active_blocks, L, "validator {v}");
    }
    assert_eq!(
        by[&id(5)].active_blocks,
        L,
        "the router was seen in every block"
    );
    assert_eq!(by[&id(6)].poc_e, 20_000);
    assert_eq!(by[&id(6)].multiplier, 10_000);
    assert_eq!(data.header.epoch_blocks, L);
    assert_eq!(data.header.node_count, 6);
    // The chunks authenticate against the header's root.
    assert_eq!(data.chunks.len(), 3);
    for c in &data.chunks {
        let leaf = chunk_hash(0, c.index, &c.records);
        assert_eq!(
            root_from_proof(leaf, c.index, data.header.chunk_count, &c.proof),
            Some(data.header.chunks_root)
        );
    }
    // The next epoch starts from zero.
    assert!(apps[0]
        .current_records()
        .iter()
        .all(|r| r.active_blocks == 0));
}

#[test]
fn silence_costs_activity_and_a_replayed_block_counts_once() {
    let mut apps = run(L / 2);
    // Validator 4 stops being seen (and stops proposing: the others take its turns).
    for a in &mut apps {
        a.observe(id(4), false);
    }
    for h in L / 2 + 1..=L {
        let p = (h % 3) as usize;
        let b = block(&mut apps[p], p as u8 + 1, h);
        for a in &mut apps {
            a.on_commit(&b);
            a.on_commit(&b); // a replay is ignored
        }
    }
    let data = apps[1].epoch_data(0).unwrap();
    let v4 = data.records.iter().find(|r| r.node == id(4)).unwrap();
    assert_eq!(v4.active_blocks, L / 2);
}

#[test]
fn epoch_e_is_the_median_of_passed_results_when_most_passed() {
    let t = |passed: &[u64], failed: u64| Tally {
        active_blocks: 0,
        poc_passed: passed.to_vec(),
        poc_failed: failed,
    };
    assert_eq!(epoch_e(&t(&[], 0)), 0);
    assert_eq!(epoch_e(&t(&[10, 30, 20], 0)), 20);
    assert_eq!(
        epoch_e(&t(&[10, 30, 1_000_000], 1)),
        30,
        "one outlier moves nothing"
    );
    assert_eq!(epoch_e(&t(&[10, 30], 2)), 0, "half failed");
}

#[test]
fn pending_poc_results_leave_the_queue_once_our_block_commits() {
    let mut app = EdgeApp::new(id(1), cfg());
    app.record_poc(id(6), 15_000, true);
    app.record_poc(id(7), 9_999, false);
    let b = block(&mut app, 1, 1);
    assert_eq!(b.bits.len(), 2);
    assert!(matches!(&b.bits[1], StateBit::Poc(p) if p.e_fixed == 0 && !p.passed));
    // Not committed yet: proposed again.
    assert_eq!(block(&mut app, 1, 1).bits.len(), 2);
    app.on_commit(&b);
    assert!(block(&mut app, 1, 2).bits.is_empty());
}
