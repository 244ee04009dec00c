//! The `ic0` system API, bound into a wasmi [`Linker`].
//!
//! Each function checks that it may run in the current entry point (as the interface
//! specification's import table says), checks every pointer and length against the heap, and
//! charges instructions: a base cost modelled on the replica's system API complexity (mostly 20,
//! more for calls and prints) plus one per byte copied. Misuse traps the message, which the host
//! then rolls back; nothing a canister does can panic the host.
//!
//! Imports from `ic0` that are not implemented still link: they trap with the import's name
//! when called, so a canister that never calls them runs.

use crate::canister::{ApiKind, Env, ExecCtx, HostTrap, OutgoingCall, HEAP_PAGE, WASM_PAGE};
use crate::certificate;
use candid::Principal;
use emc_wasm_instrument as instr;
use wasmi::{Caller, Engine, Error, Linker, Module, Val};

type C<'a> = Caller<'a, Env>;

/// Base instruction cost of a system API call.
const BASE: u64 = 20;
/// Cost of `call_perform` (the replica charges thousands for enqueueing a request).
const CALL_PERFORM: u64 = 5_000;
/// Cost of `debug_print` and `trap` before their bytes.
const PRINT: u64 = 100;

fn api_trap(msg: impl Into<String>) -> Error {
    Error::host(HostTrap::Api(msg.into()))
}

/// Subtracts `n` from the instruction counter; traps when the message runs out.
fn charge(caller: &mut C<'_>, n: u64) -> Result<(), Error> {
    let Some(counter) = caller.data().handles.counter else {
        return Ok(());
    };
    let left = match counter.get(&*caller) {
        Val::I64(v) => v,
        _ => 0,
    };
    let left = left.saturating_sub(n.min(i64::MAX as u64) as i64);
    let _ = counter.set(&mut *caller, Val::I64(left));
    if left < 0 {
        let limit = caller.data().ctx.as_ref().map_or(0, |c| c.limit);
        return Err(Error::host(HostTrap::OutOfInstructions(limit)));
    }
    Ok(())
}

/// Instructions used so far by the running message.
fn used(caller: &C<'_>) -> u64 {
    let limit = caller.data().ctx.as_ref().map_or(0, |c| c.limit);
    let left = match caller.data().handles.counter.map(|c| c.get(caller)) {
        Some(Val::I64(v)) => v,
        _ => 0,
    };
    (limit.min(i64::MAX as u64) as i64)
        .saturating_sub(left)
        .max(0) as u64
}

fn ctx<'a>(caller: &'a mut C<'_>, api: &str) -> Result<&'a mut ExecCtx, Error> {
    caller
        .data_mut()
        .ctx
        .as_mut()
        .ok_or_else(|| api_trap(format!("ic0.{api} cannot be executed outside a message")))
}

/// The running message's context, if `allowed` accepts its entry point.
fn ctx_in<'a>(
    caller: &'a mut C<'_>,
    api: &str,
    allowed: fn(ApiKind) -> bool,
) -> Result<&'a mut ExecCtx, Error> {
    let ctx = ctx(caller, api)?;
    if allowed(ctx.kind) {
        Ok(ctx)
    } else {
        Err(api_trap(format!(
            "ic0.{api} cannot be executed in {} mode",
            ctx.kind.name()
        )))
    }
}

fn any(_: ApiKind) -> bool {
    true
}

fn with_arg(k: ApiKind) -> bool {
    use ApiKind::*;
    matches!(
        k,
        Init | PostUpgrade
            | Update
            | ReplicatedQuery
            | NonReplicatedQuery
            | ReplyCallback
            | InspectMessage
    )
}

fn can_call(k: ApiKind) -> bool {
    matches!(
        k,
        ApiKind::Update | ApiKind::ReplyCallback | ApiKind::RejectCallback | ApiKind::Timer
    )
}

fn in_callback(k: ApiKind) -> bool {
    matches!(k, ApiKind::ReplyCallback | ApiKind::RejectCallback)
}

fn with_call_context(k: ApiKind) -> bool {
    matches!(
        k,
        ApiKind::Update | ApiKind::ReplyCallback | ApiKind::RejectCallback
    )
}

fn mutates_system_state(k: ApiKind) -> bool {
    use ApiKind::*;
    matches!(
        k,
        Init | PreUpgrade | PostUpgrade | Update | ReplyCallback | RejectCallback | Cleanup | Timer
    )
}

fn u32_arg(v: i32) -> usize {
    v as u32 as usize
}

/// Reads `len` bytes of the heap at `ptr`, trapping when out of bounds.
fn read_heap(caller: &C<'_>, ptr: usize, len: usize) -> Result<Vec<u8>, Error> {
    let memory = caller
        .data()
        .handles
        .memory
        .ok_or_else(|| api_trap("the canister has no memory"))?;
    let data = memory.data(caller);
    let end = ptr
        .checked_add(len)
        .filter(|&e| e <= data.len())
        .ok_or_else(|| {
            api_trap(format!(
                "heap out of bounds: {len} bytes at {ptr} (heap {} bytes)",
                data.len()
            ))
        })?;
    Ok(data[ptr..end].to_vec())
}

/// Saves the heap pages in `[start, end)` that this message has not written yet.
fn save_pages(caller: &mut C<'_>, start: usize, end: usize) -> Result<(), Error> {
    if start >= end {
        return Ok(());
    }
    let (Some(memory), Some(map)) = (
        caller.data().handles.memory,
        caller.data().handles.dirty_map,
    ) else {
        return Ok(());
    };
    let first = (start / HEAP_PAGE) as u32;
    let last = ((end - 1) / HEAP_PAGE) as u32;
    for page in first..=last {
        let marked = map.data(&*caller).get(page as usize).copied().unwrap_or(1);
        if marked != 0 {
            continue;
        }
        let (heap, env) = memory.data_and_store_mut(&mut *caller);
        let from = page as usize * HEAP_PAGE;
        if from >= heap.len() {
            break;
        }
        if from < env.undo.heap_len_at_start {
            let to = (from + HEAP_PAGE).min(heap.len());
            env.undo.heap_pages.push((page, heap[from..to].into()));
        }
        env.undo.touched.push(page);
        if let Some(b) = map.data_mut(&mut *caller).get_mut(page as usize) {
            *b = 1;
        }
    }
    Ok(())
}

/// Writes `bytes` into the heap at `dst` (undo-logged), trapping when out of bounds.
fn write_heap(caller: &mut C<'_>, dst: usize, bytes: &[u8]) -> Result<(), Error> {
    let memory = caller
        .data()
        .handles
        .memory
        .ok_or_else(|| api_trap("the canister has no memory"))?;
    let heap_len = memory.data(&*caller).len();
    let end = dst
        .checked_add(bytes.len())
        .filter(|&e| e <= heap_len)
        .ok_or_else(|| {
            api_trap(format!(
                "heap out of bounds: {} bytes at {dst} (heap {heap_len} bytes)",
                bytes.len()
            ))
        })?;
    save_pages(caller, dst, end)?;
    memory.data_mut(&mut *caller)[dst..end].copy_from_slice(bytes);
    Ok(())
}

/// `*_copy(dst, offset, size)`: copies `source[offset..offset+size]` to the heap.
fn copy_out(
    caller: &mut C<'_>,
    source: &[u8],
    dst: i32,
    offset: i32,
    size: i32,
    api: &str,
) -> Result<(), Error> {
    let (offset, size) = (u32_arg(offset), u32_arg(size));
    let end = offset
        .checked_add(size)
        .filter(|&e| e <= source.len())
        .ok_or_else(|| {
            api_trap(format!(
                "ic0.{api}: offset {offset} + size {size} exceeds the source length {}",
                source.len()
            ))
        })?;
    charge(caller, BASE + size as u64)?;
    write_heap(caller, u32_arg(dst), &source[offset..end])
}

fn write_u128(caller: &mut C<'_>, dst: i32, value: u128) -> Result<(), Error> {
    write_heap(caller, u32_arg(dst), &value.to_le_bytes())
}

fn u128_of(high: i64, low: i64) -> u128 {
    ((high as u64 as u128) << 64) | low as u64 as u128
}

/// Builds the linker for `module`: the `__emc` instrumentation hooks, the implemented `ic0`
/// functions, and trapping stubs for any other `ic0` import. Imports from other modules make
/// the wasm "not a canister".
pub(crate) fn linker(engine: &Engine, module: &Module) -> Result<Linker<Env>, String> {
    let mut l = Linker::new(engine);
    define(&mut l).map_err(|e| format!("linking the system API: {e}"))?;
    for import in module.imports() {
        let (m, name) = (import.module(), import.name());
        match m {
            "ic0" | instr::IMPORT_MODULE => {}
            other => {
                return Err(format!(
                    "imports {other}.{name}; a canister may only import from module \"ic0\""
                ))
            }
        }
        let wasmi::ExternType::Func(ty) = import.ty() else {
            return Err(format!("imports {m}.{name}, which is not a function"));
        };
        if !is_defined(name, m) {
            let api = name.to_string();
            l.func_new(m, name, ty.clone(), move |_c, _args, _results| {
                Err(api_trap(format!(
                    "ic0.{api} is not implemented by the embedded IC"
                )))
            })
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(l)
}

macro_rules! implemented {
    ($($name:literal),* $(,)?) => {
        const IMPLEMENTED: &[&str] = &[$($name),*];
    };
}

implemented!(
    "msg_arg_data_size",
    "msg_arg_data_copy",
    "msg_caller_size",
    "msg_caller_copy",
    "msg_reject_code",
    "msg_reject_msg_size",
    "msg_reject_msg_copy",
    "msg_deadline",
    "msg_reply_data_append",
    "msg_reply",
    "msg_reject",
    "msg_cycles_available128",
    "msg_cycles_refunded128",
    "msg_cycles_accept128",
    "cycles_burn128",
    "canister_self_size",
    "canister_self_copy",
    "canister_cycle_balance128",
    "canister_liquid_cycle_balance128",
    "canister_status",
    "canister_version",
    "msg_method_name_size",
    "msg_method_name_copy",
    "accept_message",
    "call_new",
    "call_on_cleanup",
    "call_data_append",
    "call_with_best_effort_response",
    "call_cycles_add128",
    "call_perform",
    "stable64_size",
    "stable64_grow",
    "stable64_write",
    "stable64_read",
    "certified_data_set",
    "data_certificate_present",
    "data_certificate_size",
    "data_certificate_copy",
    "time",
    "global_timer_set",
    "performance_counter",
    "is_controller",
    "in_replicated_execution",
    "cost_call",
    "debug_print",
    "trap",
);

fn is_defined(name: &str, module: &str) -> bool {
    if module == instr::IMPORT_MODULE {
        return [
            instr::IMPORT_OUT_OF_INSTRUCTIONS,
            instr::IMPORT_DIRTY_PAGE,
            instr::IMPORT_DIRTY_RANGE,
        ]
        .contains(&name);
    }
    IMPLEMENTED.contains(&name)
}

#[allow(clippy::too_many_lines)]
fn define(l: &mut Linker<Env>) -> Result<(), wasmi::errors::LinkerError> {
    // --- instrumentation hooks --------------------------------------------------------------
    l.func_wrap(
        instr::IMPORT_MODULE,
        instr::IMPORT_OUT_OF_INSTRUCTIONS,
        |c: C<'_>| -> Result<(), Error> {
            let limit = c.data().ctx.as_ref().map_or(0, |x| x.limit);
            Err(Error::host(HostTrap::OutOfInstructions(limit)))
        },
    )?;
    l.func_wrap(
        instr::IMPORT_MODULE,
        instr::IMPORT_DIRTY_PAGE,
        |mut c: C<'_>, page: i32| {
            let start = page as u32 as usize * HEAP_PAGE;
            save_pages(&mut c, start, start + 1)
        },
    )?;
    l.func_wrap(
        instr::IMPORT_MODULE,
        instr::IMPORT_DIRTY_RANGE,
        |mut c: C<'_>, dst: i32, len: i32| {
            let (dst, len) = (u32_arg(dst), u32_arg(len));
            charge(&mut c, len as u64)?;
            // An out-of-bounds range traps in the instruction itself; save what is in bounds.
            save_pages(&mut c, dst, dst.saturating_add(len))
        },
    )?;

    // --- message arguments and caller -----------------------------------------------------
    l.func_wrap(
        "ic0",
        "msg_arg_data_size",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            Ok(ctx_in(&mut c, "msg_arg_data_size", with_arg)?.arg.len() as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_arg_data_copy",
        |mut c: C<'_>, dst: i32, off: i32, size: i32| {
            let arg = std::mem::take(&mut ctx_in(&mut c, "msg_arg_data_copy", with_arg)?.arg);
            let r = copy_out(&mut c, &arg, dst, off, size, "msg_arg_data_copy");
            ctx(&mut c, "msg_arg_data_copy")?.arg = arg;
            r
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_caller_size",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            Ok(ctx_in(&mut c, "msg_caller_size", any)?
                .caller
                .as_slice()
                .len() as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_caller_copy",
        |mut c: C<'_>, dst: i32, off: i32, size: i32| {
            let caller = ctx_in(&mut c, "msg_caller_copy", any)?.caller;
            copy_out(&mut c, caller.as_slice(), dst, off, size, "msg_caller_copy")
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_method_name_size",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            let ctx = ctx_in(&mut c, "msg_method_name_size", |k| {
                k == ApiKind::InspectMessage
            })?;
            Ok(ctx.method.len() as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_method_name_copy",
        |mut c: C<'_>, dst: i32, off: i32, size: i32| {
            let m = ctx_in(&mut c, "msg_method_name_copy", |k| {
                k == ApiKind::InspectMessage
            })?
            .method
            .clone();
            copy_out(&mut c, m.as_bytes(), dst, off, size, "msg_method_name_copy")
        },
    )?;
    l.func_wrap(
        "ic0",
        "accept_message",
        |mut c: C<'_>| -> Result<(), Error> {
            charge(&mut c, BASE)?;
            let ctx = ctx_in(&mut c, "accept_message", |k| k == ApiKind::InspectMessage)?;
            if ctx.accepted_message {
                return Err(api_trap("ic0.accept_message called twice"));
            }
            ctx.accepted_message = true;
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_deadline",
        |mut c: C<'_>| -> Result<i64, Error> {
            charge(&mut c, BASE)?;
            Ok(ctx_in(&mut c, "msg_deadline", any)?.deadline as i64)
        },
    )?;

    // --- responses ------------------------------------------------------------------------
    l.func_wrap(
        "ic0",
        "msg_reject_code",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            let ctx = ctx_in(&mut c, "msg_reject_code", in_callback)?;
            Ok(ctx.reject.as_ref().map_or(0, |r| r.code as i32))
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_reject_msg_size",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            let ctx = ctx_in(&mut c, "msg_reject_msg_size", |k| {
                k == ApiKind::RejectCallback
            })?;
            Ok(ctx.reject.as_ref().map_or(0, |r| r.message.len()) as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "msg_reject_msg_copy",
        |mut c: C<'_>, dst: i32, off: i32, size: i32| {
            let ctx = ctx_in(&mut c, "msg_reject_msg_copy", |k| {
                k == ApiKind::RejectCallback
            })?;
            let m = ctx
                .reject
                .as_ref()
                .map(|r| r.message.clone())
                .unwrap_or_default();
            copy_out(&mut c, m.as_bytes(), dst, off, size, "msg_reject_msg_copy")
        },
    )?;
    l.func_wrap("ic0", "msg_reply_data_append", |mut c: C<'_>, src: i32, size: i32| {
        charge(&mut c, BASE + u32_arg(size) as u64)?;
        let bytes = read_heap(&c, u32_arg(src), u32_arg(size))?;
        let ctx = ctx(&mut c, "msg_reply_data_append")?;
        if !ctx.can_respond() {
            return Err(api_trap("ic0.msg_reply_data_append: the call is already answered or cannot be answered here"));
        }
        if ctx.reply_buf.len() + bytes.len() > ctx.max_reply_bytes {
            return Err(api_trap(format!(
                "ic0.msg_reply_data_append: the reply exceeds {} bytes",
                ctx.max_reply_bytes
            )));
        }
        ctx.reply_buf.extend_from_slice(&bytes);
        Ok(())
    })?;
    l.func_wrap("ic0", "msg_reply", |mut c: C<'_>| -> Result<(), Error> {
        charge(&mut c, BASE)?;
        let ctx = ctx(&mut c, "msg_reply")?;
        if !ctx.can_respond() {
            return Err(api_trap(
                "ic0.msg_reply: the call is already answered or cannot be answered here",
            ));
        }
        ctx.response = Some(Ok(std::mem::take(&mut ctx.reply_buf)));
        Ok(())
    })?;
    l.func_wrap("ic0", "msg_reject", |mut c: C<'_>, src: i32, size: i32| {
        charge(&mut c, BASE + u32_arg(size) as u64)?;
        let bytes = read_heap(&c, u32_arg(src), u32_arg(size))?;
        let ctx = ctx(&mut c, "msg_reject")?;
        if !ctx.can_respond() {
            return Err(api_trap(
                "ic0.msg_reject: the call is already answered or cannot be answered here",
            ));
        }
        let message = String::from_utf8_lossy(&bytes).into_owned();
        ctx.response = Some(Err(crate::Reject::new(
            crate::RejectCode::CanisterReject,
            message,
        )));
        Ok(())
    })?;

    // --- cycles ---------------------------------------------------------------------------
    l.func_wrap(
        "ic0",
        "msg_cycles_available128",
        |mut c: C<'_>, dst: i32| {
            charge(&mut c, BASE)?;
            let v = ctx_in(&mut c, "msg_cycles_available128", with_call_context)?.cycles_available;
            write_u128(&mut c, dst, v)
        },
    )?;
    l.func_wrap("ic0", "msg_cycles_refunded128", |mut c: C<'_>, dst: i32| {
        charge(&mut c, BASE)?;
        let v = ctx_in(&mut c, "msg_cycles_refunded128", in_callback)?.cycles_refunded;
        write_u128(&mut c, dst, v)
    })?;
    l.func_wrap(
        "ic0",
        "msg_cycles_accept128",
        |mut c: C<'_>, high: i64, low: i64, dst: i32| {
            charge(&mut c, BASE)?;
            let max = u128_of(high, low);
            let ctx = ctx_in(&mut c, "msg_cycles_accept128", with_call_context)?;
            let take = max.min(ctx.cycles_available);
            ctx.cycles_available -= take;
            let env = c.data_mut();
            env.system.cycles = env.system.cycles.saturating_add(take);
            write_u128(&mut c, dst, take)
        },
    )?;
    l.func_wrap(
        "ic0",
        "cycles_burn128",
        |mut c: C<'_>, high: i64, low: i64, dst: i32| {
            charge(&mut c, BASE)?;
            ctx_in(&mut c, "cycles_burn128", mutates_system_state)?;
            let env = c.data_mut();
            let burnt = u128_of(high, low).min(env.system.cycles);
            env.system.cycles -= burnt;
            write_u128(&mut c, dst, burnt)
        },
    )?;
    l.func_wrap(
        "ic0",
        "canister_cycle_balance128",
        |mut c: C<'_>, dst: i32| {
            charge(&mut c, BASE)?;
            ctx(&mut c, "canister_cycle_balance128")?;
            let v = c.data().system.cycles;
            write_u128(&mut c, dst, v)
        },
    )?;
    l.func_wrap(
        "ic0",
        "canister_liquid_cycle_balance128",
        |mut c: C<'_>, dst: i32| {
            charge(&mut c, BASE)?;
            ctx(&mut c, "canister_liquid_cycle_balance128")?;
            let v = c.data().system.cycles;
            write_u128(&mut c, dst, v)
        },
    )?;
    l.func_wrap(
        "ic0",
        "cost_call",
        |mut c: C<'_>, name_size: i64, payload_size: i64, dst: i32| {
            charge(&mut c, BASE)?;
            ctx(&mut c, "cost_call")?;
            // The replica's fees on a 13-node subnet: 260,000 cycles per call, 1,000 per byte.
            let bytes = (name_size as u64 as u128).saturating_add(payload_size as u64 as u128);
            write_u128(&mut c, dst, 260_000 + 1_000 * bytes)
        },
    )?;

    // --- the canister itself ----------------------------------------------------------------
    l.func_wrap(
        "ic0",
        "canister_self_size",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            ctx(&mut c, "canister_self_size")?;
            Ok(c.data().id.as_slice().len() as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "canister_self_copy",
        |mut c: C<'_>, dst: i32, off: i32, size: i32| {
            ctx(&mut c, "canister_self_copy")?;
            let id = c.data().id;
            copy_out(&mut c, id.as_slice(), dst, off, size, "canister_self_copy")
        },
    )?;
    l.func_wrap(
        "ic0",
        "canister_status",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            ctx(&mut c, "canister_status")?;
            Ok(1) // running: stopped canisters execute no messages
        },
    )?;
    l.func_wrap(
        "ic0",
        "canister_version",
        |mut c: C<'_>| -> Result<i64, Error> {
            charge(&mut c, BASE)?;
            ctx(&mut c, "canister_version")?;
            Ok(c.data().system.version as i64)
        },
    )?;
    l.func_wrap(
        "ic0",
        "is_controller",
        |mut c: C<'_>, src: i32, size: i32| -> Result<i32, Error> {
            charge(&mut c, BASE + u32_arg(size) as u64)?;
            ctx(&mut c, "is_controller")?;
            let bytes = read_heap(&c, u32_arg(src), u32_arg(size))?;
            let p = Principal::try_from_slice(&bytes)
                .map_err(|e| api_trap(format!("ic0.is_controller: invalid principal: {e}")))?;
            Ok(c.data().system.controllers.contains(&p) as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "in_replicated_execution",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            let kind = ctx(&mut c, "in_replicated_execution")?.kind;
            Ok((kind != ApiKind::NonReplicatedQuery && kind != ApiKind::InspectMessage) as i32)
        },
    )?;

    // --- inter-canister calls -------------------------------------------------------------
    l.func_wrap(
        "ic0",
        "call_new",
        |mut c: C<'_>, callee_src: i32, callee_size: i32, name_src: i32, name_size: i32,
         reply_fun: i32, reply_env: i32, reject_fun: i32, reject_env: i32| {
            charge(&mut c, BASE + u32_arg(callee_size) as u64 + u32_arg(name_size) as u64)?;
            let callee = read_heap(&c, u32_arg(callee_src), u32_arg(callee_size))?;
            let name = read_heap(&c, u32_arg(name_src), u32_arg(name_size))?;
            let callee = Principal::try_from_slice(&callee)
                .map_err(|e| api_trap(format!("ic0.call_new: invalid callee: {e}")))?;
            let method = String::from_utf8(name)
                .map_err(|_| api_trap("ic0.call_new: the method name is not UTF-8"))?;
            let env = c.data_mut();
            let ctx = env.ctx.as_mut().filter(|x| can_call(x.kind)).ok_or_else(|| {
                api_trap("ic0.call_new cannot be executed here (only updates, callbacks and timers call)")
            })?;
            // A call that was started but never performed is discarded; its cycles come back.
            if let Some(old) = ctx.pending_call.take() {
                env.system.cycles = env.system.cycles.saturating_add(old.cycles);
            }
            ctx.pending_call = Some(OutgoingCall {
                callee,
                method,
                arg: Vec::new(),
                cycles: 0,
                reply: (reply_fun as u32, reply_env as u32),
                reject: (reject_fun as u32, reject_env as u32),
                cleanup: None,
                timeout_seconds: None,
            });
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "call_on_cleanup",
        |mut c: C<'_>, fun: i32, env: i32| {
            charge(&mut c, BASE)?;
            let call = pending(&mut c, "call_on_cleanup")?;
            if call.cleanup.is_some() {
                return Err(api_trap("ic0.call_on_cleanup called twice for one call"));
            }
            call.cleanup = Some((fun as u32, env as u32));
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "call_data_append",
        |mut c: C<'_>, src: i32, size: i32| {
            charge(&mut c, BASE + u32_arg(size) as u64)?;
            let bytes = read_heap(&c, u32_arg(src), u32_arg(size))?;
            let max = ctx(&mut c, "call_data_append")?.max_payload_bytes;
            let call = pending(&mut c, "call_data_append")?;
            if call.arg.len() + bytes.len() > max {
                return Err(api_trap(format!(
                    "ic0.call_data_append: the payload exceeds {max} bytes"
                )));
            }
            call.arg.extend_from_slice(&bytes);
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "call_with_best_effort_response",
        |mut c: C<'_>, timeout: i32| {
            charge(&mut c, BASE)?;
            let call = pending(&mut c, "call_with_best_effort_response")?;
            if call.timeout_seconds.is_some() {
                return Err(api_trap(
                    "ic0.call_with_best_effort_response called twice for one call",
                ));
            }
            call.timeout_seconds = Some((timeout as u32).clamp(1, 300));
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "call_cycles_add128",
        |mut c: C<'_>, high: i64, low: i64| {
            charge(&mut c, BASE)?;
            let amount = u128_of(high, low);
            pending(&mut c, "call_cycles_add128")?;
            let env = c.data_mut();
            if env.system.cycles < amount {
                return Err(api_trap(
                    "ic0.call_cycles_add128: insufficient cycles balance",
                ));
            }
            env.system.cycles -= amount;
            if let Some(call) = env.ctx.as_mut().and_then(|x| x.pending_call.as_mut()) {
                call.cycles = call.cycles.saturating_add(amount);
            }
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "call_perform",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, CALL_PERFORM)?;
            let ctx = ctx_in(&mut c, "call_perform", can_call)?;
            let call = ctx
                .pending_call
                .take()
                .ok_or_else(|| api_trap("ic0.call_perform without ic0.call_new"))?;
            ctx.calls.push(call);
            Ok(0)
        },
    )?;

    // --- stable memory --------------------------------------------------------------------
    l.func_wrap(
        "ic0",
        "stable64_size",
        |mut c: C<'_>| -> Result<i64, Error> {
            charge(&mut c, BASE)?;
            ctx(&mut c, "stable64_size")?;
            Ok((c.data().system.stable.len() as u64 / WASM_PAGE) as i64)
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable64_grow",
        |mut c: C<'_>, new_pages: i64| -> Result<i64, Error> {
            charge(&mut c, 100)?;
            let max = ctx(&mut c, "stable64_grow")?.max_stable_bytes;
            let stable = &mut c.data_mut().system.stable;
            let old = stable.len() as u64 / WASM_PAGE;
            let new_len = (new_pages as u64)
                .checked_add(old)
                .and_then(|p| p.checked_mul(WASM_PAGE))
                .filter(|&len| len <= max);
            Ok(match new_len {
                Some(len) => {
                    stable.resize(len as usize, 0);
                    old as i64
                }
                None => -1,
            })
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable64_write",
        |mut c: C<'_>, offset: i64, src: i64, size: i64| {
            let (offset, src, size) = (offset as u64, src as u64, size as u64);
            charge(&mut c, BASE + size)?;
            ctx(&mut c, "stable64_write")?;
            let bytes = read_heap(&c, src as usize, size as usize)?;
            let env = c.data_mut();
            let len = env.system.stable.len() as u64;
            let end = offset
                .checked_add(size)
                .filter(|&e| e <= len)
                .ok_or_else(|| {
                    api_trap(format!(
                        "stable memory out of bounds: {size} bytes at {offset} (size {len})"
                    ))
                })?;
            let range = offset as usize..end as usize;
            if range.start < env.undo.stable_len_at_start {
                let saved_end = range.end.min(env.undo.stable_len_at_start);
                env.undo
                    .stable_writes
                    .push((offset, env.system.stable[range.start..saved_end].to_vec()));
            }
            env.system.stable[range].copy_from_slice(&bytes);
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable64_read",
        |mut c: C<'_>, dst: i64, offset: i64, size: i64| {
            let (dst, offset, size) = (dst as u64, offset as u64, size as u64);
            charge(&mut c, BASE + size)?;
            ctx(&mut c, "stable64_read")?;
            let stable = &c.data().system.stable;
            let end = offset
                .checked_add(size)
                .filter(|&e| e <= stable.len() as u64)
                .ok_or_else(|| {
                    api_trap(format!(
                        "stable memory out of bounds: {size} bytes at {offset} (size {})",
                        stable.len()
                    ))
                })?;
            let bytes = stable[offset as usize..end as usize].to_vec();
            write_heap(&mut c, dst as usize, &bytes)
        },
    )?;

    // --- certification, time, timers, counters --------------------------------------------
    l.func_wrap(
        "ic0",
        "certified_data_set",
        |mut c: C<'_>, src: i32, size: i32| {
            charge(&mut c, BASE + u32_arg(size) as u64)?;
            ctx_in(&mut c, "certified_data_set", mutates_system_state)?;
            if u32_arg(size) > 32 {
                return Err(api_trap(
                    "ic0.certified_data_set: at most 32 bytes may be certified",
                ));
            }
            let bytes = read_heap(&c, u32_arg(src), u32_arg(size))?;
            c.data_mut().system.certified_data = bytes;
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "data_certificate_present",
        |mut c: C<'_>| -> Result<i32, Error> {
            charge(&mut c, BASE)?;
            Ok(ctx(&mut c, "data_certificate_present")?
                .certificate
                .is_some() as i32)
        },
    )?;
    l.func_wrap("ic0", "data_certificate_size", |mut c: C<'_>| -> Result<i32, Error> {
        charge(&mut c, BASE)?;
        let ctx = ctx(&mut c, "data_certificate_size")?;
        let cert = ctx.certificate.as_mut().ok_or_else(|| {
            api_trap("ic0.data_certificate_size: no certificate (only non-replicated queries have one)")
        })?;
        Ok(cert.bytes().len() as i32)
    })?;
    l.func_wrap("ic0", "data_certificate_copy", |mut c: C<'_>, dst: i32, off: i32, size: i32| {
        let cert = ctx(&mut c, "data_certificate_copy")?
            .certificate
            .as_mut()
            .map(|c| c.bytes().to_vec())
            .ok_or_else(|| {
                api_trap("ic0.data_certificate_copy: no certificate (only non-replicated queries have one)")
            })?;
        copy_out(&mut c, &cert, dst, off, size, "data_certificate_copy")
    })?;
    l.func_wrap("ic0", "time", |mut c: C<'_>| -> Result<i64, Error> {
        charge(&mut c, BASE)?;
        Ok(ctx(&mut c, "time")?.time as i64)
    })?;
    l.func_wrap(
        "ic0",
        "global_timer_set",
        |mut c: C<'_>, ts: i64| -> Result<i64, Error> {
            charge(&mut c, BASE)?;
            ctx_in(&mut c, "global_timer_set", mutates_system_state)?;
            let env = c.data_mut();
            let previous = env.system.global_timer;
            env.system.global_timer = ts as u64;
            Ok(previous as i64)
        },
    )?;
    l.func_wrap(
        "ic0",
        "performance_counter",
        |mut c: C<'_>, kind: i32| -> Result<i64, Error> {
            charge(&mut c, BASE)?;
            let now = used(&c);
            let ctx = ctx(&mut c, "performance_counter")?;
            match kind {
                0 => Ok(now as i64),
                1 => Ok(ctx.context_instructions.saturating_add(now) as i64),
                other => Err(api_trap(format!(
                    "ic0.performance_counter: unknown counter type {other}"
                ))),
            }
        },
    )?;

    // --- debugging --------------------------------------------------------------------------
    l.func_wrap("ic0", "debug_print", |mut c: C<'_>, src: i32, size: i32| {
        charge(&mut c, PRINT + u32_arg(size) as u64)?;
        let bytes = read_heap(&c, u32_arg(src), u32_arg(size))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let env = c.data_mut();
        if env.trace_debug_print {
            tracing::debug!(canister = %env.id, "{text}");
        }
        env.debug_log.push(text);
        Ok(())
    })?;
    l.func_wrap(
        "ic0",
        "trap",
        |mut c: C<'_>, src: i32, size: i32| -> Result<(), Error> {
            charge(&mut c, PRINT + u32_arg(size) as u64)?;
            let bytes = read_heap(&c, u32_arg(src), u32_arg(size))?;
            Err(Error::host(HostTrap::Explicit(
                String::from_utf8_lossy(&bytes).into_owned(),
            )))
        },
    )?;
    Ok(())
}

fn pending<'a>(caller: &'a mut C<'_>, api: &str) -> Result<&'a mut OutgoingCall, Error> {
    ctx_in(caller, api, can_call)?
        .pending_call
        .as_mut()
        .ok_or_else(|| api_trap(format!("ic0.{api} without a preceding ic0.call_new")))
}

/// The certificate a non-replicated query of `canister` sees, made (and signed) only when the
/// query first asks for it: signing costs far more than most queries.
pub(crate) enum DataCertificate {
    Pending {
        canister: Principal,
        certified_data: Vec<u8>,
        time: u64,
        signer: Option<certificate::CertificateSigner>,
    },
    Ready(Vec<u8>),
}

impl std::fmt::Debug for DataCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataCertificate::Pending { canister, .. } => {
                write!(f, "DataCertificate::Pending({canister})")
            }
            DataCertificate::Ready(b) => write!(f, "DataCertificate::Ready({} bytes)", b.len()),
        }
    }
}

impl DataCertificate {
    pub(crate) fn bytes(&mut self) -> &[u8] {
        if let DataCertificate::Pending {
            canister,
            certified_data,
            time,
            signer,
        } = self
        {
            let bytes = certificate::data_certificate(
                canister.as_slice(),
                certified_data,
                *time,
                signer.as_ref(),
            );
            *self = DataCertificate::Ready(bytes);
        }
        match self {
            DataCertificate::Ready(bytes) => bytes,
            DataCertificate::Pending { .. } => &[],
        }
    }
}
