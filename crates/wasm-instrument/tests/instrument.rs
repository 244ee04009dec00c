//! Behaviour of instrumented modules, run in wasmi with recording host stubs.

mod harness;

use emc_wasm_instrument::{
    instrument, InstrumentError, DIRTY_MAP_BYTES, EXPORT_COUNTER, EXPORT_DIRTY_MAP, EXPORT_MEMORY,
    IMPORT_MODULE, START_INSTRUCTION_LIMIT,
};
use harness::{i32s, instrumented, original, show, validate_output, Vm, PLENTY};
use wasmi::Val;

fn i32v(x: i32) -> Val {
    Val::I32(x)
}

// ---------------------------------------------------------------------------------------------
// Exact instruction counts
// ---------------------------------------------------------------------------------------------

#[test]
fn straight_line_costs_one_per_operator() {
    let mut m = instrumented(
        r#"(module
            (func (export "f") (result i32) i32.const 1 i32.const 2 i32.add)
            (func (export "empty")))"#,
    );
    // i32.const, i32.const, i32.add, end
    assert_eq!(m.cost("f", &[]).1, 4);
    assert_eq!(m.cost("f", &[]).0.len(), 1);
    // end
    assert_eq!(m.cost("empty", &[]).1, 1);
    assert_eq!(m.out.instruction_count, 5);
    assert_eq!(m.out.function_count, 2);
}

#[test]
fn branches_charge_only_the_path_taken() {
    let mut m = instrumented(
        r#"(module
            (func (export "ite") (param i32) (result i32)
              (if (result i32) (local.get 0)
                (then (i32.add (i32.const 10) (i32.const 1)))
                (else (i32.const 20))))
            (func (export "it") (param i32) (result i32) (local i32)
              (if (local.get 0) (then (local.set 1 (i32.const 5))))
              (local.get 1))
            (func (export "ret") (result i32)
              (return (i32.const 7))
              (drop (i32.const 1))
              (i32.const 2)))"#,
    );
    // then: local.get, if, i32.const, i32.const, i32.add, else, then the function's end
    let (r, c) = m.cost("ite", &[i32v(1)]);
    assert_eq!((i32s(&r), c), (vec![11], 7));
    // else: local.get, if, i32.const, end (of if), end
    assert_eq!(m.cost("ite", &[i32v(0)]).1, 5);
    // true: local.get, if, i32.const, local.set, end, local.get, end
    assert_eq!(m.cost("it", &[i32v(1)]).1, 7);
    // false: local.get, if, (jump after end) local.get, end
    assert_eq!(m.cost("it", &[i32v(0)]).1, 4);
    // i32.const, return; the dead code after it is never charged
    assert_eq!(m.cost("ret", &[]).1, 2);
}

#[test]
fn loops_cost_a_plus_n_times_b() {
    let mut m = instrumented(
        r#"(module
            (func (export "down") (param i32)
              (loop
                (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                (br_if 0 (local.get 0))))
            (func (export "sum") (param $n i32) (result i32) (local $acc i32)
              (block $exit
                (loop $l
                  (br_if $exit (i32.eqz (local.get $n)))
                  (local.set $acc (i32.add (local.get $acc) (i32.const 2)))
                  (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                  (br $l)))
              (local.get $acc)))"#,
    );
    for n in [1, 2, 3, 10, 1000] {
        // loop; 6 per iteration (local.get, i32.const, i32.sub, local.set, local.get, br_if);
        // then the loop's end and the function's end.
        assert_eq!(
            m.cost("down", &[i32v(n)]).1,
            3 + 6 * i64::from(n),
            "down({n})"
        );
        // block, loop; 12 per iteration; the exit test (3); local.get, end.
        let (r, c) = m.cost("sum", &[i32v(n)]);
        assert_eq!(i32s(&r), vec![2 * n]);
        assert_eq!(c, 7 + 12 * i64::from(n), "sum({n})");
    }
    assert_eq!(m.cost("sum", &[i32v(0)]).1, 7);
}

#[test]
fn calls_charge_caller_and_callee() {
    let mut m = instrumented(
        r#"(module
            (import "env" "ext" (func $ext (param i32) (result i32)))
            (type $t (func (param i32) (result i32)))
            (table 2 funcref)
            (elem (i32.const 0) $sq $ext)
            (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
            (func (export "two") (result i32)
              (i32.add (call $sq (i32.const 3)) (call $sq (i32.const 4))))
            (func (export "ind") (param i32) (result i32)
              (call_indirect (type $t) (i32.const 5) (local.get 0)))
            (func (export "host") (result i32) (call $ext (i32.const 1)))
            (func $rec (export "fact") (param i32) (result i32)
              (if (result i32) (i32.eqz (local.get 0))
                (then (i32.const 1))
                (else (i32.mul (local.get 0) (call $rec (i32.sub (local.get 0) (i32.const 1))))))))"#,
    );
    // sq: local.get, local.get, i32.mul, end = 4
    // two: i32.const, call, i32.const, call, i32.add, end = 6, plus 2 * 4
    let (r, c) = m.cost("two", &[]);
    assert_eq!((i32s(&r), c), (vec![25], 14));
    // ind: i32.const, local.get, call_indirect, end = 4, plus sq
    assert_eq!(m.cost("ind", &[i32v(0)]).1, 8);
    // through the table to the host function: the host charges nothing in these stubs
    let (r, c) = m.cost("ind", &[i32v(1)]);
    assert_eq!((i32s(&r), c), (vec![1005], 4));
    assert_eq!(m.cost("host", &[]).1, 3);
    // fact(0): local.get, i32.eqz, if, i32.const, else, end = 6
    // fact(n): local.get, i32.eqz, if, local.get, local.get, i32.const, i32.sub, call (8),
    //          then i32.mul, end (of if), end = 3 more, plus fact(n-1)
    for n in 0..6 {
        let (r, c) = m.cost("fact", &[i32v(n)]);
        assert_eq!(i32s(&r), vec![(1..=n).product::<i32>().max(1)]);
        assert_eq!(c, 6 + 11 * i64::from(n), "fact({n})");
    }
}

#[test]
fn nested_blocks_and_br_table() {
    let mut m = instrumented(
        r#"(module
            (func (export "nested") (param i32) (result i32)
              (block $a (result i32)
                (block $b
                  (block $c
                    (br_table $c $b (local.get 0)))
                  (br $a (i32.const 100)))
                (i32.add (i32.const 200) (i32.const 1))))
            (func (export "blocks") (result i32)
              (block (nop))
              (block (result i32) (i32.const 1))))"#,
    );
    // block a, block b, block c, local.get, br_table = 5; after c: i32.const, br = 2;
    // after a: end = 1
    let (r, c) = m.cost("nested", &[i32v(0)]);
    assert_eq!((i32s(&r), c), (vec![100], 8));
    // 5; after b: i32.const, i32.const, i32.add, end (of a) = 4; end = 1
    let (r, c) = m.cost("nested", &[i32v(1)]);
    assert_eq!((i32s(&r), c), (vec![201], 10));
    let (r, c) = m.cost("nested", &[i32v(7)]);
    assert_eq!((i32s(&r), c), (vec![201], 10));
    // block, nop, end, block, i32.const, end, end: one straight line
    assert_eq!(m.cost("blocks", &[]).1, 7);
}

#[test]
fn costs_are_deterministic() {
    let wat = r#"(module
        (func (export "f") (param i32) (result i32)
          (loop (result i32)
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br_if 0 (local.get 0))
            (local.get 0))))"#;
    let a = instrument(&wat::parse_str(wat).unwrap()).unwrap();
    let b = instrument(&wat::parse_str(wat).unwrap()).unwrap();
    assert_eq!(a, b);
    let mut m = instrumented(wat);
    let first = m.cost("f", &[i32v(50)]).1;
    for _ in 0..3 {
        assert_eq!(m.cost("f", &[i32v(50)]).1, first);
    }
}

// ---------------------------------------------------------------------------------------------
// out_of_instructions
// ---------------------------------------------------------------------------------------------

const SPIN: &str = r#"(module
    (global $it (export "it") (mut i32) (i32.const 0))
    (func (export "spin") (param i32)
      (loop
        (global.set $it (i32.add (global.get $it) (i32.const 1)))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br_if 0 (local.get 0))))
    (func $forever (export "forever") (call $forever)))"#;

fn iterations(m: &harness::IVm) -> i32 {
    let g = m.vm.instance.get_global(&m.vm.store, "it").unwrap();
    match g.get(&m.vm.store) {
        Val::I32(v) => v,
        other => panic!("{other:?}"),
    }
}

fn reset_iterations(m: &mut harness::IVm) {
    let g = m.vm.instance.get_global(&m.vm.store, "it").unwrap();
    g.set(&mut m.vm.store, Val::I32(0)).unwrap();
}

#[test]
fn out_of_instructions_fires_in_a_loop_and_not_before() {
    let mut m = instrumented(SPIN);
    // spin(n) costs 1 + 10n + 2; the loop header checks after charging 10 per iteration.
    assert_eq!(m.cost("spin", &[i32v(5)]).1, 53);

    // Exactly enough: no call, counter ends at 0.
    reset_iterations(&mut m);
    m.set_counter(53);
    m.call("spin", &[i32v(5)]).unwrap();
    assert_eq!(m.counter(), 0);
    assert_eq!(m.host().out_of_instructions, 0);
    assert_eq!(iterations(&m), 5);

    // Enough for every loop header but not for the final run (loop end, function end): the
    // counter ends negative without a call; the host must check it after the message.
    reset_iterations(&mut m);
    m.set_counter(51);
    m.call("spin", &[i32v(5)]).unwrap();
    assert_eq!(m.counter(), -2);
    assert_eq!(m.host().out_of_instructions, 0);

    // One short for the 5th iteration's header: fires there, after 4 iterations.
    reset_iterations(&mut m);
    m.set_counter(50);
    assert!(m.call("spin", &[i32v(5)]).is_err());
    assert_eq!(m.host().out_of_instructions, 1);
    assert_eq!(iterations(&m), 4);
    assert_eq!(m.counter(), -1);

    // A limit in the middle of a long loop.
    for limit in [1i64, 10, 11, 12, 100, 1234] {
        m.vm.reset_host();
        reset_iterations(&mut m);
        m.set_counter(limit);
        assert!(m.call("spin", &[i32v(1_000_000)]).is_err());
        assert_eq!(m.host().out_of_instructions, 1);
        // the header of iteration k fires when limit - 1 - 10k < 0
        let fired_at = (limit - 1) / 10 + 1;
        assert_eq!(i64::from(iterations(&m)), fired_at - 1, "limit {limit}");
    }

    // Entry check: a function entered with the counter at 0 fires immediately.
    m.vm.reset_host();
    m.set_counter(0);
    assert!(m.call("spin", &[i32v(1)]).is_err());
    assert_eq!(m.host().out_of_instructions, 1);
}

#[test]
fn out_of_instructions_stops_unbounded_recursion() {
    let mut m = instrumented(SPIN);
    // each frame charges 1 (its `call`; the `end` is never reached)
    m.set_counter(500);
    assert!(m.call("forever", &[]).is_err());
    assert_eq!(m.host().out_of_instructions, 1);
    assert_eq!(m.counter(), -1);
}

#[test]
fn start_function_runs_under_the_start_limit() {
    let mut m = instrumented(
        r#"(module
            (global $g (export "g") (mut i32) (i32.const 0))
            (func $start (global.set $g (i32.const 42)))
            (start $start)
            (func (export "get") (result i32) (global.get $g)))"#,
    );
    assert_eq!(i32s(&m.call("get", &[]).unwrap()), vec![42]);
    // the start function cost: i32.const, global.set, end; then "get" ran with no reset
    let before = START_INSTRUCTION_LIMIT - 3 - 2;
    assert_eq!(m.counter(), before);
}

// ---------------------------------------------------------------------------------------------
// Dirty pages
// ---------------------------------------------------------------------------------------------

const STORES: &str = r#"(module
    (memory 2)
    (func (export "i32") (param i32) (i32.store (local.get 0) (i32.const -1)))
    (func (export "i32_8") (param i32) (i32.store8 (local.get 0) (i32.const -1)))
    (func (export "i32_16") (param i32) (i32.store16 (local.get 0) (i32.const -1)))
    (func (export "i64") (param i32) (i64.store (local.get 0) (i64.const -1)))
    (func (export "i64_8") (param i32) (i64.store8 (local.get 0) (i64.const -1)))
    (func (export "i64_16") (param i32) (i64.store16 (local.get 0) (i64.const -1)))
    (func (export "i64_32") (param i32) (i64.store32 (local.get 0) (i64.const -1)))
    (func (export "f32") (param i32) (f32.store (local.get 0) (f32.const 1.5)))
    (func (export "f64") (param i32) (f64.store (local.get 0) (f64.const 1.5)))
    (func (export "off") (param i32) (i64.store offset=4000 (local.get 0) (i64.const -1)))
    (func (export "off_big") (param i32) (i32.store8 offset=65536 (local.get 0) (i32.const 1)))
    (func (export "twice") (param i32)
      (i32.store (local.get 0) (i32.const 1))
      (i32.store offset=4 (local.get 0) (i32.const 2)))
    (func (export "read") (param i32) (result i64)
      (i64.add (i64.load (local.get 0)) (i64.extend_i32_u (i32.load8_u offset=9000 (local.get 0)))))
    (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
    (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
    (func (export "init") (param i32 i32 i32) (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
    (func (export "grow") (result i32) (memory.grow (i32.const 1)))
    (data $d "passive data"))"#;

/// (function, address, size of the store)
const STORE_FUNCS: &[(&str, u32)] = &[
    ("i32", 4),
    ("i32_8", 1),
    ("i32_16", 2),
    ("i64", 8),
    ("i64_8", 1),
    ("i64_16", 2),
    ("i64_32", 4),
    ("f32", 4),
    ("f64", 8),
];

fn pages_of(addr: u32, size: u32) -> Vec<u32> {
    let first = addr >> 12;
    let last = (addr + size - 1) >> 12;
    (first..=last).collect()
}

#[test]
fn every_store_size_marks_its_pages() {
    let mut m = instrumented(STORES);
    assert!(m.out.has_memory);
    for &(name, size) in STORE_FUNCS {
        // aligned, unaligned within a page, and straddling every boundary position
        let mut addrs = vec![0, 8, 4096, 3 * 4096 + 5, 65536 + 4096 * 3 + 1];
        for k in 1..size {
            addrs.push(5 * 4096 - k);
        }
        for addr in addrs {
            m.reset_dirty();
            m.call(name, &[i32v(addr as i32)]).unwrap();
            assert_eq!(
                m.host().dirty_pages,
                pages_of(addr, size),
                "{name} at {addr}"
            );
            assert!(m.host().dirty_ranges.is_empty());
            // the value really was stored
            let mem =
                m.vm.instance
                    .get_memory(&m.vm.store, EXPORT_MEMORY)
                    .unwrap();
            let written = &mem.data(&m.vm.store)[addr as usize..(addr + size) as usize];
            assert!(written.iter().any(|b| *b != 0), "{name} at {addr}");
            mem.data_mut(&mut m.vm.store).fill(0);
        }
    }
}

#[test]
fn pages_are_reported_once_per_message_and_offsets_count() {
    let mut m = instrumented(STORES);
    m.reset_dirty();
    m.call("twice", &[i32v(4090)]).unwrap();
    // 4090..4094 on page 0, 4094..4098 on pages 0 and 1: page 0 only once
    assert_eq!(m.host().dirty_pages, vec![0, 1]);
    m.call("twice", &[i32v(4090)]).unwrap();
    assert_eq!(
        m.host().dirty_pages,
        vec![0, 1],
        "map bytes set: no new calls"
    );
    // offset=4000: 95 + 4000 = 4095, 8 bytes: pages 0 and 1
    m.reset_dirty();
    m.call("off", &[i32v(95)]).unwrap();
    assert_eq!(m.host().dirty_pages, vec![0, 1]);
    // offset=65536: page 16 + addr's page
    m.reset_dirty();
    m.call("off_big", &[i32v(8192)]).unwrap();
    assert_eq!(m.host().dirty_pages, vec![18]);
}

#[test]
fn out_of_bounds_stores_report_then_trap() {
    let mut m = instrumented(STORES);
    m.reset_dirty();
    // memory is 2 wasm pages = 32 dirty pages; a store across the end traps after reporting
    assert!(m.call("i32", &[i32v(131_070)]).is_err());
    assert_eq!(m.host().dirty_pages, vec![31, 32]);
    // address wraps around 2^32: pages are computed with wrapping arithmetic, then it traps
    m.reset_dirty();
    assert!(m.call("off", &[i32v(-100)]).is_err());
    assert_eq!(m.host().dirty_pages, vec![0]);
    m.reset_dirty();
    assert!(m.call("i64", &[i32v(-2)]).is_err());
    assert_eq!(m.host().dirty_pages, vec![(1 << 20) - 1, 0]);
}

#[test]
fn reads_mark_nothing() {
    let mut m = instrumented(STORES);
    m.reset_dirty();
    for addr in [0, 4095, 60_000] {
        m.call("read", &[i32v(addr)]).unwrap();
    }
    assert!(m.host().dirty_pages.is_empty());
    assert!(m.host().dirty_ranges.is_empty());
    let grown = m.call("grow", &[]).unwrap();
    assert_eq!(i32s(&grown), vec![2]);
    assert!(m.host().dirty_pages.is_empty());
    assert!(m.host().dirty_ranges.is_empty());
}

#[test]
fn bulk_operations_report_their_destination_range() {
    let mut m = instrumented(STORES);
    m.reset_dirty();
    m.call("fill", &[i32v(100), i32v(7), i32v(5000)]).unwrap();
    m.call("copy", &[i32v(20_000), i32v(100), i32v(10)])
        .unwrap();
    m.call("init", &[i32v(40_000), i32v(2), i32v(4)]).unwrap();
    m.call("fill", &[i32v(9), i32v(7), i32v(0)]).unwrap();
    assert_eq!(
        m.host().dirty_ranges,
        vec![(100, 5000), (20_000, 10), (40_000, 4), (9, 0)]
    );
    assert!(m.host().dirty_pages.is_empty());
    let mem =
        m.vm.instance
            .get_memory(&m.vm.store, EXPORT_MEMORY)
            .unwrap();
    let data = mem.data(&m.vm.store);
    assert_eq!(data[5099], 7);
    assert_eq!(data[20_009], 7);
    assert_eq!(&data[40_000..40_004], b"ssiv");
    // an out-of-bounds fill is reported, then traps
    assert!(m
        .call("fill", &[i32v(131_000), i32v(1), i32v(1000)])
        .is_err());
    assert_eq!(m.host().dirty_ranges.last(), Some(&(131_000, 1000)));
}

#[test]
fn dirty_map_shape() {
    let m = instrumented(STORES);
    let map =
        m.vm.instance
            .get_memory(&m.vm.store, EXPORT_DIRTY_MAP)
            .unwrap();
    assert_eq!(map.data(&m.vm.store).len(), DIRTY_MAP_BYTES as usize);
    let ty = map.ty(&m.vm.store);
    assert_eq!(ty.minimum(), 16);
    assert_eq!(ty.maximum(), Some(16));
    // the canister's own memory is exported under its own name and `__emc_memory`
    assert!(m
        .vm
        .instance
        .get_memory(&m.vm.store, EXPORT_MEMORY)
        .is_some());
    // a module without memory gets neither
    let m = instrumented(r#"(module (func (export "f")))"#);
    assert!(!m.out.has_memory);
    assert!(m
        .vm
        .instance
        .get_memory(&m.vm.store, EXPORT_DIRTY_MAP)
        .is_none());
    assert!(m
        .vm
        .instance
        .get_memory(&m.vm.store, EXPORT_MEMORY)
        .is_none());
    assert!(m
        .vm
        .instance
        .get_global(&m.vm.store, EXPORT_COUNTER)
        .is_some());
}

// ---------------------------------------------------------------------------------------------
// Same results before and after
// ---------------------------------------------------------------------------------------------

const PROGRAMS: &str = r#"(module
    (import "env" "ext" (func $ext (param i32) (result i32)))
    (type $bin (func (param i32 i32) (result i32)))
    (memory (export "mem") 1 4)
    (global $g (mut i64) (i64.const 5))
    (global $k i32 (i32.const 3))
    (table 4 funcref)
    (elem (i32.const 0) $add $sub $mul $ext2)
    (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
    (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
    (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
    (func $ext2 (type $bin) (call $ext (i32.add (local.get 0) (local.get 1))))
    (func (export "dispatch") (param i32 i32 i32) (result i32)
      (call_indirect (type $bin) (local.get 1) (local.get 2) (local.get 0)))
    (func $fib (export "fib") (param i32) (result i32)
      (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
        (then (local.get 0))
        (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                       (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
    (func $swap (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
    (func (export "multi") (param i32 i32) (result i32 i32 i32)
      local.get 0
      local.get 1
      (block (param i32 i32) (result i32 i32 i32)
        (call $swap)
        (i32.const 9)))
    (func (export "classify") (param i32) (result i32)
      (block $d (block $c (block $b (block $a
        (br_table $a $b $c $d (local.get 0)))
        (return (i32.const 10)))
        (return (i32.const 20)))
        (return (i32.const 30)))
      (i32.const 40))
    (func (export "globals") (param i64) (result i64)
      (global.set $g (i64.add (global.get $g) (local.get 0)))
      (i64.mul (global.get $g) (i64.extend_i32_s (global.get $k))))
    (func (export "memsum") (param i32) (result i64) (local $i i32) (local $s i64)
      (loop $fill
        (i64.store (i32.mul (local.get $i) (i32.const 8)) (i64.extend_i32_u (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $fill (i32.lt_u (local.get $i) (local.get 0))))
      (local.set $i (i32.const 0))
      (loop $sum
        (local.set $s (i64.add (local.get $s) (i64.load (i32.mul (local.get $i) (i32.const 8)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $sum (i32.lt_u (local.get $i) (local.get 0))))
      (local.get $s))
    (func (export "grow") (param i32) (result i32 i32)
      (memory.grow (local.get 0)) (memory.size))
    (func (export "floats") (param f64) (result f64 f32)
      (f64.store (i32.const 100) (f64.mul (local.get 0) (f64.const 2.5)))
      (f32.store offset=3 (i32.const 200) (f32.demote_f64 (local.get 0)))
      (f64.load (i32.const 100)) (f32.load offset=3 (i32.const 200)))
    (func (export "narrow") (param i64) (result i64)
      (i64.store16 (i32.const 4095) (local.get 0))
      (i64.store32 offset=1 (i32.const 8190) (local.get 0))
      (i64.add (i64.load16_s (i32.const 4095)) (i64.load32_u (i32.const 8191))))
    (func (export "bulk") (result i32)
      (memory.fill (i32.const 1000) (i32.const 3) (i32.const 100))
      (memory.copy (i32.const 5000) (i32.const 990) (i32.const 50))
      (i32.add (i32.load8_u (i32.const 5009)) (i32.load8_u (i32.const 5010))))
    (func (export "select") (param i32) (result i32)
      (select (i32.const 1) (i32.const 2) (local.get 0)))
    (func (export "trap") (param i32) (result i32)
      (if (local.get 0) (then unreachable))
      (i32.div_u (i32.const 10) (local.get 0)))
    (func (export "signext") (param i32) (result i32)
      (i32.extend8_s (local.get 0)))
    (func (export "refs") (result i32)
      (ref.is_null (ref.func $add)))
    (func (export "tail") (param i32) (result i32)
      (return_call $fib (local.get 0))))"#;

fn cases() -> Vec<(&'static str, Vec<Val>)> {
    vec![
        ("dispatch", vec![i32v(0), i32v(7), i32v(5)]),
        ("dispatch", vec![i32v(1), i32v(7), i32v(5)]),
        ("dispatch", vec![i32v(2), i32v(7), i32v(5)]),
        ("dispatch", vec![i32v(3), i32v(7), i32v(5)]),
        ("dispatch", vec![i32v(4), i32v(7), i32v(5)]),
        ("fib", vec![i32v(15)]),
        ("multi", vec![i32v(1), i32v(2)]),
        ("classify", vec![i32v(0)]),
        ("classify", vec![i32v(1)]),
        ("classify", vec![i32v(2)]),
        ("classify", vec![i32v(3)]),
        ("classify", vec![i32v(99)]),
        ("globals", vec![Val::I64(10)]),
        ("globals", vec![Val::I64(-3)]),
        ("memsum", vec![i32v(1000)]),
        ("grow", vec![i32v(1)]),
        ("grow", vec![i32v(5)]),
        ("floats", vec![Val::F64(3.25.into())]),
        ("narrow", vec![Val::I64(0x1234_5678_9abc)]),
        ("bulk", vec![]),
        ("select", vec![i32v(0)]),
        ("select", vec![i32v(1)]),
        ("trap", vec![i32v(0)]),
        ("trap", vec![i32v(1)]),
        ("signext", vec![i32v(0xff)]),
        ("refs", vec![]),
        ("tail", vec![i32v(10)]),
    ]
}

#[test]
fn results_are_identical_before_and_after() {
    let mut before = original(PROGRAMS);
    let mut after = instrumented(PROGRAMS);
    after.set_counter(PLENTY);
    for (name, args) in cases() {
        let expected = show(&before.call(name, &args));
        let actual = show(&after.call(name, &args));
        assert_eq!(actual, expected, "{name}({args:?})");
    }
    // memory contents too, through both of the instrumented module's exports of memory 0
    let b = before.instance.get_memory(&before.store, "mem").unwrap();
    for name in ["mem", EXPORT_MEMORY] {
        let a = after.vm.instance.get_memory(&after.vm.store, name).unwrap();
        assert!(a.data(&after.vm.store) == b.data(&before.store), "{name}");
    }
    // and the counter went down by exactly what the calls cost
    assert!(after.counter() < PLENTY);
    assert_eq!(after.out.globals, vec!["__emc_global_0".to_string()]);
}

// ---------------------------------------------------------------------------------------------
// Index remapping, exports, custom sections
// ---------------------------------------------------------------------------------------------

const REMAP: &str = r#"(module
    (import "env" "ext" (func $ext (param i32) (result i32)))
    (type $v (func (result i32)))
    (table 3 funcref)
    (global $started (mut i32) (i32.const 0))
    (global $fref funcref (ref.func $forty_two))
    (global $imm i32 (i32.const 1))
    (global $other (mut i64) (i64.const 0))
    (elem (i32.const 0) $one $forty_two)
    (elem (table 0) (i32.const 2) funcref (ref.func $one))
    (elem declare func $get_ref)
    (func $one (result i32) (i32.const 1))
    (func $forty_two (export "forty_two") (result i32) (i32.const 42))
    (func $start (global.set $started (call $ext (i32.const 1))))
    (func (export "started") (result i32) (global.get $started))
    (func (export "via_table") (param i32) (result i32) (call_indirect (type $v) (local.get 0)))
    (func $get_ref (export "get_ref") (result funcref) (ref.func $forty_two))
    (func (export "fref") (result funcref) (global.get $fref))
    (func (export "ext") (param i32) (result i32) (call $ext (local.get 0)))
    (start $start))"#;

#[test]
fn function_indices_are_remapped_everywhere() {
    let mut m = instrumented(REMAP);
    // start function ran, calling the import (whose index did not move)
    assert_eq!(i32s(&m.call("started", &[]).unwrap()), vec![1001]);
    assert_eq!(i32s(&m.call("forty_two", &[]).unwrap()), vec![42]);
    // active element segments (function list and expression forms)
    assert_eq!(i32s(&m.call("via_table", &[i32v(0)]).unwrap()), vec![1]);
    assert_eq!(i32s(&m.call("via_table", &[i32v(1)]).unwrap()), vec![42]);
    assert_eq!(i32s(&m.call("via_table", &[i32v(2)]).unwrap()), vec![1]);
    assert_eq!(i32s(&m.call("ext", &[i32v(5)]).unwrap()), vec![1005]);
    // ref.func in code and in a global initializer point at the right function
    for name in ["get_ref", "fref"] {
        let r = m.call(name, &[]).unwrap();
        let Val::FuncRef(f) = &r[0] else {
            panic!("{r:?}")
        };
        let f = *f.val().unwrap();
        let mut out = [Val::I32(0)];
        f.call(&mut m.vm.store, &[], &mut out).unwrap();
        assert_eq!(i32s(&out), vec![42], "{name}");
    }
    assert_eq!(m.out.globals, vec!["__emc_global_0", "__emc_global_3"]);
    for name in &m.out.globals {
        assert!(m.vm.instance.get_global(&m.vm.store, name).is_some());
    }

    // The structure: imports first (env.ext, then the three __emc), exports shifted by 3.
    let wasm = &m.out.wasm;
    let mut imports = Vec::new();
    let mut exports = std::collections::BTreeMap::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            wasmparser::Payload::ImportSection(r) => {
                for i in r {
                    let i = i.unwrap();
                    imports.push(format!("{}.{}", i.module, i.name));
                }
            }
            wasmparser::Payload::ExportSection(r) => {
                for e in r {
                    let e = e.unwrap();
                    exports.insert(e.name.to_string(), (e.kind, e.index));
                }
            }
            wasmparser::Payload::StartSection { func, .. } => assert_eq!(func, 3 + 3),
            _ => {}
        }
    }
    assert_eq!(
        imports,
        vec![
            "env.ext",
            "__emc.out_of_instructions",
            "__emc.dirty_page",
            "__emc.dirty_range"
        ]
    );
    // $forty_two is defined function 1 = index 2 before, 5 after
    assert_eq!(exports["forty_two"], (wasmparser::ExternalKind::Func, 5));
    assert_eq!(
        exports[EXPORT_COUNTER],
        (wasmparser::ExternalKind::Global, 4)
    );
    assert_eq!(
        exports["__emc_global_3"],
        (wasmparser::ExternalKind::Global, 3)
    );
}

#[test]
fn custom_sections_are_kept_and_name_is_dropped() {
    let wat = r#"(module
        (@custom "icp:public candid:service" "service : { greet : (text) -> (text) }")
        (@custom "icp:private blob" (after code) "\00\01\02\ff")
        (func $named (export "f") (result i32) (i32.const 1)))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let customs = |wasm: &[u8]| {
        let mut v = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            if let wasmparser::Payload::CustomSection(r) = payload.unwrap() {
                v.push((r.name().to_string(), r.data().to_vec()));
            }
        }
        v
    };
    let before = customs(&wasm);
    assert!(
        before.iter().any(|(n, _)| n == "name"),
        "wat emits a name section"
    );
    let out = instrument(&wasm).unwrap();
    validate_output(&out.wasm);
    let after = customs(&out.wasm);
    let expected: Vec<_> = before.into_iter().filter(|(n, _)| n != "name").collect();
    assert_eq!(after, expected);
    assert_eq!(after.len(), 2);
    assert!(after.iter().any(|(_, data)| data == &[0, 1, 2, 0xff]));
}

#[test]
fn module_without_sections_gets_the_instrumentation_sections() {
    for wat in [
        "(module)",
        "(module (memory 1))",
        "(module (global (mut i32) (i32.const 0)))",
    ] {
        let out = instrument(&wat::parse_str(wat).unwrap()).unwrap();
        validate_output(&out.wasm);
        let vm = Vm::new(&out.wasm).unwrap();
        assert!(vm.instance.get_global(&vm.store, EXPORT_COUNTER).is_some());
        assert_eq!(out.function_count, 0);
        assert_eq!(out.instruction_count, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

fn refuse(wat: &str) -> InstrumentError {
    let wasm = wat::parse_str(wat).unwrap();
    match instrument(&wasm) {
        Ok(_) => panic!("accepted: {wat}"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

fn refused_instruction(wat: &str, expected: &str) {
    match refuse(wat) {
        InstrumentError::UnsupportedInstruction { instruction, .. } => {
            assert_eq!(instruction, expected, "{wat}")
        }
        other => panic!("{wat}: {other:?}"),
    }
}

#[test]
fn refuses_invalid_wasm() {
    assert!(matches!(instrument(b""), Err(InstrumentError::Invalid(_))));
    assert!(matches!(
        instrument(b"\0asm"),
        Err(InstrumentError::Invalid(_))
    ));
    assert!(matches!(
        instrument(b"not wasm at all"),
        Err(InstrumentError::Invalid(_))
    ));
    // a type error
    let wasm = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#);
    assert!(
        wasm.is_err() || matches!(instrument(&wasm.unwrap()), Err(InstrumentError::Invalid(_)))
    );
    let bad = {
        let mut w = wat::parse_str(r#"(module (func (result i32) (i32.const 1)))"#).unwrap();
        let n = w.len();
        assert_eq!(&w[n - 3..], &[0x41, 0x01, 0x0b]);
        w[n - 3] = 0x42; // i32.const -> i64.const
        w
    };
    assert!(matches!(instrument(&bad), Err(InstrumentError::Invalid(_))));
    // a component is not a module
    let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    assert!(matches!(
        instrument(&component),
        Err(InstrumentError::Invalid(_))
    ));
    // GC and exception handling are not accepted
    assert!(matches!(
        refuse(r#"(module (type (struct (field i32))))"#),
        InstrumentError::Invalid(_)
    ));
    assert!(matches!(
        refuse(r#"(module (tag))"#),
        InstrumentError::Invalid(_)
    ));
}

#[test]
fn refuses_unsupported_memories() {
    assert_eq!(refuse("(module (memory i64 1))"), InstrumentError::Memory64);
    assert_eq!(
        refuse("(module (table i64 1 funcref))"),
        InstrumentError::Memory64
    );
    assert_eq!(
        refuse(r#"(module (import "env" "t" (table i64 1 funcref)))"#),
        InstrumentError::Memory64
    );
    assert_eq!(
        refuse("(module (memory 1 1 shared))"),
        InstrumentError::SharedMemory
    );
    assert_eq!(
        refuse(r#"(module (import "env" "m" (memory 1)))"#),
        InstrumentError::ImportedMemory
    );
    assert_eq!(
        refuse("(module (memory 1) (memory 1))"),
        InstrumentError::TooManyMemories(2)
    );
    assert_eq!(
        refuse("(module (memory 1 (pagesize 1)))"),
        InstrumentError::CustomPageSize
    );
}

#[test]
fn refuses_reserved_names() {
    assert!(matches!(
        refuse(r#"(module (func (export "__emc_memory")))"#),
        InstrumentError::ReservedName(_)
    ));
    assert!(matches!(
        refuse(r#"(module (import "__emc" "x" (func)))"#),
        InstrumentError::ReservedName(_)
    ));
    // other names starting with __ are fine
    instrument(&wat::parse_str(r#"(module (func (export "__emcx")))"#).unwrap()).unwrap();
}

#[test]
fn refuses_instructions_the_host_cannot_roll_back() {
    let t = "(table $t 2 funcref) (elem $e func $f) (func $f)";
    refused_instruction(
        &format!("(module {t} (func (table.set $t (i32.const 0) (ref.null func))))"),
        "table_set",
    );
    refused_instruction(
        &format!("(module {t} (func (drop (table.grow $t (ref.null func) (i32.const 1)))))"),
        "table_grow",
    );
    refused_instruction(
        &format!("(module {t} (func (table.fill $t (i32.const 0) (ref.null func) (i32.const 1))))"),
        "table_fill",
    );
    refused_instruction(
        &format!("(module {t} (func (table.copy (i32.const 0) (i32.const 1) (i32.const 1))))"),
        "table_copy",
    );
    refused_instruction(
        &format!("(module {t} (func (table.init $e (i32.const 0) (i32.const 0) (i32.const 1))))"),
        "table_init",
    );
    refused_instruction(&format!("(module {t} (func (elem.drop $e)))"), "elem_drop");
    refused_instruction(
        r#"(module (memory 1) (data $d "x") (func (data.drop $d)))"#,
        "data_drop",
    );
    refused_instruction(
        "(module (memory 1) (func (drop (i32.atomic.load (i32.const 0)))))",
        "i32_atomic_load",
    );
    refused_instruction("(module (func atomic.fence))", "atomic_fence");
    refused_instruction(
        "(module (func (drop (v128.const i64x2 0 0))))",
        "v128_const",
    );
    // refused even in unreachable code
    refused_instruction(
        &format!("(module {t} (func unreachable (elem.drop $e)))"),
        "elem_drop",
    );
    match refuse(&format!(
        "(module {t} (func (table.set $t (i32.const 0) (ref.null func))))"
    )) {
        InstrumentError::UnsupportedInstruction {
            function, offset, ..
        } => {
            assert_eq!(function, 1);
            assert!(offset > 0);
        }
        other => panic!("{other:?}"),
    }
    // The v128 type outside instructions: in a signature, a local, a global (a mutated
    // module found the first, which wasmi then refused).
    for wat in [
        "(module (func (param v128)))",
        "(module (func (local v128)))",
        "(module (global v128 (v128.const i64x2 0 0)))",
    ] {
        assert!(matches!(refuse(wat), InstrumentError::Simd), "{wat}");
    }
}

#[test]
fn import_module_constant_matches() {
    assert_eq!(IMPORT_MODULE, "__emc");
}

// ---------------------------------------------------------------------------------------------
// Never panics: random and mutated bytes
// ---------------------------------------------------------------------------------------------

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn seeds() -> Vec<Vec<u8>> {
        [PROGRAMS, STORES, REMAP, SPIN]
            .iter()
            .map(|w| wat::parse_str(w).unwrap())
            .collect()
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        Set(usize, u8),
        Flip(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            4 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
            1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            1 => any::<usize>().prop_map(Mutation::Remove),
            1 => any::<usize>().prop_map(Mutation::Truncate),
        ]
    }

    fn apply(wasm: &mut Vec<u8>, m: &Mutation) {
        if wasm.is_empty() {
            return;
        }
        let n = wasm.len();
        match *m {
            Mutation::Set(i, b) => wasm[i % n] = b,
            Mutation::Flip(i, bit) => wasm[i % n] ^= 1 << bit,
            Mutation::Insert(i, b) => wasm.insert(i % (n + 1), b),
            Mutation::Remove(i) => {
                wasm.remove(i % n);
            }
            Mutation::Truncate(i) => wasm.truncate(i % n),
        }
    }

    /// Whatever `instrument` accepts, it turns into a module that validates and that wasmi
    /// compiles.
    fn check(wasm: &[u8]) {
        if let Ok(out) = instrument(wasm) {
            validate_output(&out.wasm);
            wasmi::Module::new(&harness::engine(), &out.wasm[..]).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            check(&bytes);
            let mut with_header = b"\0asm\x01\0\0\0".to_vec();
            with_header.extend_from_slice(&bytes);
            check(&with_header);
        }

        #[test]
        fn mutated_modules_never_panic(
            seed in 0usize..4,
            mutations in proptest::collection::vec(mutation(), 1..6),
        ) {
            let mut wasm = seeds().swap_remove(seed);
            for m in &mutations {
                apply(&mut wasm, m);
            }
            check(&wasm);
        }
    }

    #[test]
    fn every_single_byte_change_of_a_seed_is_handled() {
        // Exhaustive over positions for one small seed, a few values each.
        let seed = wat::parse_str(SPIN).unwrap();
        let mut accepted = 0;
        for i in 0..seed.len() {
            for b in [0x00, 0x01, 0x0b, 0x7f, 0x80, 0xff] {
                let mut w = seed.clone();
                w[i] = b;
                check(&w);
                accepted += usize::from(instrument(&w).is_ok());
            }
        }
        assert!(accepted > 0);
    }
}

// ---------------------------------------------------------------------------------------------
// A real Rust-compiled module
// ---------------------------------------------------------------------------------------------

const RUST_SOURCE: &str = r#"
#[no_mangle]
pub extern "C" fn work(n: u32) -> u64 {
    let mut v: Vec<u64> = (0..u64::from(n)).map(|i| i.wrapping_mul(2654435761) % 1000).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    let mut copy = vec![0u64; v.len()];
    copy.copy_from_slice(&v);
    let text = format!("{}-{}", copy.len(), copy.first().copied().unwrap_or(0));
    copy.iter().take(10).sum::<u64>() * 1000 + text.len() as u64
}
"#;

/// Compiles `RUST_SOURCE` for wasm32-unknown-unknown with the installed rustc; `None` if the
/// target is not installed.
/// The module compiled once per test process (tests run in parallel and would otherwise
/// race on the same output files, and a failed build would read as "not installed").
fn rust_wasm() -> Option<Vec<u8>> {
    static WASM: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    WASM.get_or_init(build_rust_wasm).clone()
}

fn build_rust_wasm() -> Option<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("emc-wasm-instrument-rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("work.rs");
    let out = dir.join("work.wasm");
    std::fs::write(&src, RUST_SOURCE).ok()?;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let status = std::process::Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--target",
            "wasm32-unknown-unknown",
            "--crate-type",
            "cdylib",
        ])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "debuginfo=0",
            "-o",
        ])
        .arg(&out)
        .arg(&src)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    std::fs::read(&out).ok()
}

#[test]
fn rust_compiled_module() {
    let Some(wasm) = rust_wasm() else {
        eprintln!("wasm32-unknown-unknown is not installed: skipping");
        return;
    };
    let mut before = Vm::new(&wasm).unwrap();
    let mut after = harness::instrumented_wasm(&wasm);
    assert!(after.out.has_memory);
    assert!(after.out.function_count > 10);
    assert!(after.out.instruction_count > 1000);
    // the stack pointer and the like
    assert!(!after.out.globals.is_empty());
    for n in [0, 1, 10, 1000] {
        after.reset_dirty();
        let expected = show(&before.call("work", &[i32v(n)]));
        let (results, cost) = after.cost("work", &[i32v(n)]);
        assert_eq!(show(&Ok(results)), expected, "work({n})");
        assert!(cost > i64::from(n), "work({n}) cost {cost}");
        // it wrote its stack and heap
        assert!(!after.host().dirty_pages.is_empty() || !after.host().dirty_ranges.is_empty());
    }
    // and runs out when given too little
    after.set_counter(1000);
    assert!(after.call("work", &[i32v(1000)]).is_err());
    assert_eq!(after.host().out_of_instructions, 1);
}

// ---------------------------------------------------------------------------------------------
// Exact counts against a naive reference (one increment before every operator)
// ---------------------------------------------------------------------------------------------

/// Runs `calls` on the naive counter and on the instrumented module; the instruction counts of
/// every call that does not trap must be equal.
fn check_against_oracle(wasm: &[u8], calls: &[(&str, Vec<Val>)]) -> usize {
    let mut reference = Vm::new(&harness::oracle::count_every_operator(wasm)).unwrap();
    let mut m = harness::instrumented_wasm(wasm);
    let count = |vm: &Vm| -> i64 {
        let g = vm
            .instance
            .get_global(&vm.store, harness::oracle::ORACLE_EXPORT)
            .unwrap();
        match g.get(&vm.store) {
            Val::I64(v) => v,
            other => panic!("{other:?}"),
        }
    };
    let mut compared = 0;
    for (name, args) in calls {
        let before = count(&reference);
        let expected = reference.call(name, args);
        let used = count(&reference) - before;
        m.set_counter(PLENTY);
        let actual = m.call(name, args);
        assert_eq!(show(&actual), show(&expected), "{name}({args:?})");
        if expected.is_ok() {
            assert_eq!(PLENTY - m.counter(), used, "{name}({args:?})");
            compared += 1;
        }
    }
    compared
}

#[test]
fn counts_match_the_naive_reference() {
    assert_eq!(
        check_against_oracle(&wat::parse_str(PROGRAMS).unwrap(), &cases()),
        cases().len() - 3
    );
    let spin: Vec<_> = (1..20).map(|n| ("spin", vec![i32v(n)])).collect();
    assert_eq!(
        check_against_oracle(&wat::parse_str(SPIN).unwrap(), &spin),
        19
    );
    let remap = [
        ("started", vec![]),
        ("via_table", vec![i32v(1)]),
        ("ext", vec![i32v(3)]),
    ];
    assert_eq!(
        check_against_oracle(&wat::parse_str(REMAP).unwrap(), &remap),
        3
    );
    if let Some(wasm) = rust_wasm() {
        let calls: Vec<_> = [0, 1, 2, 3, 10, 77, 1000]
            .iter()
            .map(|n| ("work", vec![i32v(*n)]))
            .collect();
        assert_eq!(check_against_oracle(&wasm, &calls), calls.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Random structured programs: same results, same memory, exact counts
// ---------------------------------------------------------------------------------------------

mod programs {
    use super::*;
    use proptest::prelude::*;

    /// xorshift: the generator only needs cheap deterministic choices from the proptest seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Label {
        Block,
        Loop,
    }

    /// Appends void statements. `labels` are the enclosing labels, innermost last. Branches
    /// back to a loop are guarded by `$tick`, which allows a bounded number of them.
    fn stmts(rng: &mut Rng, depth: u32, labels: &mut Vec<Label>, out: &mut String) {
        let n = rng.below(5);
        for _ in 0..n {
            stmt(rng, depth, labels, out);
        }
    }

    fn stmt(rng: &mut Rng, depth: u32, labels: &mut Vec<Label>, out: &mut String) {
        let choice = if depth == 0 {
            rng.below(6)
        } else {
            rng.below(14)
        };
        let k = rng.below(100);
        let block_labels: Vec<usize> = (0..labels.len())
            .filter(|i| labels[labels.len() - 1 - i] == Label::Block)
            .collect();
        match choice {
            0 => out.push_str("nop "),
            1 => out.push_str(&format!(
                "(local.set $x (i32.add (local.get $x) (i32.const {k}))) "
            )),
            2 => out.push_str(&format!(
                "(i64.store offset={k} (i32.and (local.get $x) (i32.const 0xfff0)) (i64.extend_i32_s (local.get $x))) "
            )),
            3 => out.push_str("(local.set $x (call $helper (local.get $x))) "),
            4 => out.push_str(&format!(
                "(memory.fill (i32.and (local.get $x) (i32.const 0x7ff0)) (i32.const {k}) (i32.const {})) ",
                k * 3
            )),
            5 => out.push_str("(local.set $x (i32.xor (local.get $x) (i32.load8_u (i32.const 5)))) "),
            6 | 7 => {
                let is_loop = choice == 7;
                out.push_str(if is_loop { "(loop " } else { "(block " });
                labels.push(if is_loop { Label::Loop } else { Label::Block });
                stmts(rng, depth - 1, labels, out);
                labels.pop();
                out.push_str(") ");
            }
            8 => {
                out.push_str(&format!(
                    "(if (i32.and (local.get $x) (i32.const {})) (then ",
                    1 << rng.below(8)
                ));
                labels.push(Label::Block);
                stmts(rng, depth - 1, labels, out);
                out.push(')');
                if rng.below(2) == 0 {
                    out.push_str(" (else ");
                    stmts(rng, depth - 1, labels, out);
                    out.push(')');
                }
                labels.pop();
                out.push_str(") ");
            }
            9 if !block_labels.is_empty() => {
                let d = block_labels[rng.below(block_labels.len() as u64) as usize];
                out.push_str(&format!("(br {d}) "));
            }
            10 if !labels.is_empty() => {
                let d = rng.below(labels.len() as u64) as usize;
                if labels[labels.len() - 1 - d] == Label::Loop {
                    out.push_str(&format!("(br_if {d} (call $tick)) "));
                } else {
                    out.push_str(&format!(
                        "(br_if {d} (i32.and (local.get $x) (i32.const {}))) ",
                        1 << rng.below(8)
                    ));
                }
            }
            11 if !block_labels.is_empty() => {
                let pick = |rng: &mut Rng| block_labels[rng.below(block_labels.len() as u64) as usize];
                let (a, b, c) = (pick(rng), pick(rng), pick(rng));
                out.push_str(&format!(
                    "(br_table {a} {b} {c} (i32.and (local.get $x) (i32.const 3))) "
                ));
            }
            12 => out.push_str("(return (local.get $x)) "),
            _ => out.push_str("(drop (i32.const 1)) "),
        }
    }

    fn program(seed: u64) -> String {
        // splitmix64 of the seed, so that nearby seeds give unrelated programs
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let mut rng = Rng((z ^ (z >> 31)) | 1);
        let mut body = String::new();
        for _ in 0..3 + rng.below(6) {
            stmts(&mut rng, 5, &mut Vec::new(), &mut body);
        }
        format!(
            r#"(module
                (memory (export "mem") 1)
                (global $fuel (export "fuel") (mut i32) (i32.const 0))
                (func $tick (result i32)
                  (if (result i32) (i32.gt_s (global.get $fuel) (i32.const 0))
                    (then (global.set $fuel (i32.sub (global.get $fuel) (i32.const 1))) (i32.const 1))
                    (else (i32.const 0))))
                (func $helper (param i32) (result i32)
                  (i32.store8 (i32.const 5) (local.get 0))
                  (i32.add (i32.mul (local.get 0) (i32.const 31)) (i32.const 7)))
                (func (export "f") (param $x i32) (result i32)
                  (global.set $fuel (i32.const 40))
                  {body}
                  (local.get $x)))"#
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn random_programs_behave_and_count_exactly(seed in any::<u64>()) {
            let wat = program(seed);
            let wasm = wat::parse_str(&wat).unwrap();
            let calls: Vec<_> = [0, 1, 6, 255, -1].iter().map(|x| ("f", vec![i32v(*x)])).collect();
            // same results and exact counts (against the per-operator reference)
            check_against_oracle(&wasm, &calls);
            // same memory
            let mut before = Vm::new(&wasm).unwrap();
            let mut after = harness::instrumented_wasm(&wasm);
            after.set_counter(PLENTY);
            for (name, args) in &calls {
                prop_assert_eq!(show(&after.call(name, args)), show(&before.call(name, args)));
            }
            let a = after.vm.instance.get_memory(&after.vm.store, "mem").unwrap();
            let b = before.instance.get_memory(&before.store, "mem").unwrap();
            prop_assert!(a.data(&after.vm.store) == b.data(&before.store), "{}", wat);
        }
    }
}

#[test]
fn table_zero_is_exported_for_callbacks() {
    let exports_of = |wat_src: &str| -> Vec<String> {
        let wasm = wat::parse_str(wat_src).unwrap();
        let out = emc_wasm_instrument::instrument(&wasm).unwrap();
        let mut names = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&out.wasm) {
            if let wasmparser::Payload::ExportSection(reader) = payload.unwrap() {
                for e in reader {
                    let e = e.unwrap();
                    if e.kind == wasmparser::ExternalKind::Table {
                        names.push(e.name.to_string());
                    }
                }
            }
        }
        names
    };
    let with_table = r#"(module (memory 1) (table 2 funcref) (func $f) (elem (i32.const 0) $f))"#;
    assert_eq!(
        exports_of(with_table),
        vec![emc_wasm_instrument::EXPORT_TABLE.to_string()]
    );
    assert!(exports_of(r#"(module (memory 1) (func))"#).is_empty());
}
