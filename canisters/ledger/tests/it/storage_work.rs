//! How much stable-memory work one call does (reads, writes, bytes) with 10,000 accounts: a
//! proxy for its instruction cost (the instruction benchmark runs the wasm elsewhere). Prints
//! the figures and asserts only generous bounds, so that an accidental O(n) path fails.

use crate::common::*;
use candid::Nat;
use emc_ledger::Ledger;
use ic_stable_structures::{Memory, VectorMemory};
use icrc_ledger_types::icrc3::blocks::GetBlocksRequest;
use std::cell::Cell;
use std::rc::Rc;

#[derive(Default, Clone, Copy, Debug)]
struct Counts {
    reads: u64,
    read_bytes: u64,
    writes: u64,
    written_bytes: u64,
}

#[derive(Clone, Default)]
struct CountingMemory {
    inner: VectorMemory,
    counts: Rc<Cell<Counts>>,
}

impl Memory for CountingMemory {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn grow(&self, pages: u64) -> i64 {
        self.inner.grow(pages)
    }
    fn read(&self, offset: u64, dst: &mut [u8]) {
        let mut c = self.counts.get();
        c.reads += 1;
        c.read_bytes += dst.len() as u64;
        self.counts.set(c);
        self.inner.read(offset, dst)
    }
    fn write(&self, offset: u64, src: &[u8]) {
        let mut c = self.counts.get();
        c.writes += 1;
        c.written_bytes += src.len() as u64;
        self.counts.set(c);
        self.inner.write(offset, src)
    }
}

fn measure<R>(mem: &CountingMemory, f: impl FnOnce() -> R) -> (R, Counts) {
    mem.counts.set(Counts::default());
    let r = f();
    (r, mem.counts.get())
}

#[test]
fn per_call_stable_memory_work_with_10k_accounts() {
    let mem = CountingMemory::default();
    let mut args = init_args();
    args.initial_balances = (0..10_000u32)
        .map(|i| {
            let mut sa = [0u8; 32];
            sa[..4].copy_from_slice(&i.to_be_bytes());
            (
                icrc_ledger_types::icrc1::account::Account {
                    owner: p(1),
                    subaccount: Some(sa),
                },
                Nat::from(E8S),
            )
        })
        .collect();
    let mut l = Ledger::init(mem.clone(), &args, NOW).unwrap();
    let mut t = xfer(acct(3), 1_000);
    t.from_subaccount = Some({
        let mut sa = [0u8; 32];
        sa[..4].copy_from_slice(&7u32.to_be_bytes());
        sa
    });
    t.created_at_time = Some(NOW);
    let (_, transfer) = measure(&mem, || l.icrc1_transfer(p(1), t, NOW).unwrap());
    let (_, approve_c) = measure(&mem, || {
        l.icrc2_approve(p(1), approve(acct(5), 10 * E8S), NOW)
            .unwrap()
    });
    let (_, tf) = measure(&mem, || {
        l.icrc2_transfer_from(p(5), xfer_from(acct(1), acct(6), E8S), NOW)
            .unwrap_err()
    });
    l.icrc1_transfer(p(200), xfer(acct(1), 100 * E8S), NOW)
        .unwrap();
    l.icrc2_approve(p(1), approve(acct(5), 10 * E8S), NOW)
        .unwrap();
    let (_, tf_ok) = measure(&mem, || {
        l.icrc2_transfer_from(p(5), xfer_from(acct(1), acct(6), E8S), NOW)
            .unwrap()
    });
    let (_, balance) = measure(&mem, || l.balance_of(&acct(6)));
    let req = GetBlocksRequest {
        start: Nat::from(5_000u32),
        length: Nat::from(100u32),
    };
    let (_, blocks) = measure(&mem, || l.icrc3_get_blocks(&[req]));
    for (name, c) in [
        ("icrc1_transfer", transfer),
        ("icrc2_approve", approve_c),
        ("icrc2_transfer_from (refused)", tf),
        ("icrc2_transfer_from", tf_ok),
        ("icrc1_balance_of", balance),
        ("icrc3_get_blocks(100)", blocks),
    ] {
        println!(
            "{name:32} reads {:5} ({:7} B)  writes {:4} ({:6} B)",
            c.reads, c.read_bytes, c.writes, c.written_bytes
        );
    }
    // Generous bounds: logarithmic B-tree work, never a scan of the 10,000 accounts.
    for c in [transfer, approve_c, tf_ok] {
        assert!(c.reads < 600 && c.read_bytes < 64 * 1024, "{c:?}");
        assert!(c.writes < 200 && c.written_bytes < 32 * 1024, "{c:?}");
    }
    assert!(blocks.reads < 1_000, "{blocks:?}");
}
