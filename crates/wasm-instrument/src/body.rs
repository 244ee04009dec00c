//! Rewriting of one function body: instruction charges, dirty-page checks before stores, and
//! function index remapping.
//!
//! The body is processed in a single forward pass over the original operators. Every original
//! operator is copied byte for byte except the ones that carry a function index (`call`,
//! `return_call`, `ref.func`), which are re-encoded with the shifted index. Instrumentation code
//! is written in front of the operator it guards. Instruction charges are not known until a
//! straight-line run ends, so the pass records where each run starts and splices the charge code
//! in when the body is assembled.

use wasm_encoder::reencode::Reencode;
use wasm_encoder::{BlockType, InstructionSink, MemArg, ValType};
use wasmparser::{FunctionBody, Operator};

use crate::ops::{op_info, refusal};
use crate::{InstrumentError, Remap, PAGE_SIZE_LOG2};

/// Indices the instrumentation code refers to, fixed for the whole module.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Env {
    pub counter_global: u32,
    pub fn_out_of_instructions: u32,
    pub fn_dirty_page: u32,
    pub fn_dirty_range: u32,
    /// The generated `mark_pages(first, last)` slow-path helper; present iff the module has a
    /// memory and defines functions.
    pub fn_mark_pages: Option<u32>,
}

/// The memory argument of the dirty-map byte loads.
const MAP_ARG: MemArg = MemArg {
    offset: 0,
    align: 0,
    memory_index: 1,
};

/// Extra locals, allocated on first use and appended after the function's own locals.
#[derive(Clone, Copy)]
enum Slot {
    /// The store address (or the destination of a bulk operation).
    Addr = 0,
    /// First page of a store (or the second operand of a bulk operation).
    First = 1,
    /// Last page of a store (or the length of a bulk operation).
    Last = 2,
    ValI32 = 3,
    ValI64 = 4,
    ValF32 = 5,
    ValF64 = 6,
}

impl Slot {
    fn ty(self) -> ValType {
        match self {
            Slot::Addr | Slot::First | Slot::Last | Slot::ValI32 => ValType::I32,
            Slot::ValI64 => ValType::I64,
            Slot::ValF32 => ValType::F32,
            Slot::ValF64 => ValType::F64,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Func,
    Block,
    Loop,
    If,
    Else,
}

#[derive(Clone, Copy)]
struct Frame {
    kind: FrameKind,
    /// Control could reach the operator that opened the frame.
    entered_live: bool,
    /// A reachable branch targets this frame's label.
    targeted: bool,
}

/// Where a straight-line run starts in the rewritten code, and whether it must check the counter.
struct Charge {
    pos: usize,
    cost: u64,
    check: bool,
}

/// The rewritten body and its static operator count.
pub(crate) struct RewrittenBody {
    pub bytes: Vec<u8>,
    pub op_count: u64,
}

struct Rewriter<'e> {
    env: &'e Env,
    /// Rewritten operators, without the charge code.
    code: Vec<u8>,
    charges: Vec<Charge>,
    frames: Vec<Frame>,
    /// Control cannot reach the current position.
    dead: bool,
    /// A new run starts at the next reachable operator; `Some(check)`.
    pending: Option<bool>,
    first_extra_local: u32,
    slots: [Option<u32>; 7],
    extra_locals: Vec<ValType>,
}

/// Rewrites one function body. `wasm` is the whole module (operator offsets index into it).
pub(crate) fn rewrite(
    env: &Env,
    remap: &mut Remap,
    wasm: &[u8],
    body: &FunctionBody<'_>,
    param_count: u32,
    func_index: u32,
) -> Result<RewrittenBody, InstrumentError> {
    let mut locals = Vec::new();
    let mut local_count = u64::from(param_count);
    for group in body.get_locals_reader()? {
        let (count, ty) = group?;
        local_count += u64::from(count);
        let ty = remap.val_type(ty).map_err(crate::encode_error)?;
        locals.push((count, ty));
    }
    let first_extra_local = u32::try_from(local_count)
        .map_err(|_| InstrumentError::LimitExceeded("locals in a function"))?;

    let mut rw = Rewriter {
        env,
        code: Vec::with_capacity(body.range().len() * 2),
        charges: Vec::new(),
        frames: vec![Frame {
            kind: FrameKind::Func,
            entered_live: true,
            targeted: false,
        }],
        dead: false,
        pending: Some(true),
        first_extra_local,
        slots: [None; 7],
        extra_locals: Vec::new(),
    };

    let mut op_count = 0u64;
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        let start = reader.original_position();
        let op = reader.read()?;
        let end = reader.original_position();
        let info = op_info(&op);
        if let Some(reason) = refusal(&op, info) {
            return Err(InstrumentError::UnsupportedInstruction {
                instruction: info.name,
                function: func_index,
                offset: start,
                reason,
            });
        }
        op_count += 1;
        let raw = wasm.get(start..end).ok_or_else(|| {
            InstrumentError::Invalid(format!("operator range {start}..{end} out of bounds"))
        })?;
        rw.operator(remap, &op, raw)?;
    }

    let limit = crate::limits::LOCALS;
    if local_count + rw.extra_locals.len() as u64 > limit {
        return Err(InstrumentError::LimitExceeded("locals in a function"));
    }
    Ok(RewrittenBody {
        bytes: rw.assemble(locals),
        op_count,
    })
}

impl Rewriter<'_> {
    fn operator(
        &mut self,
        remap: &mut Remap,
        op: &Operator<'_>,
        raw: &[u8],
    ) -> Result<(), InstrumentError> {
        let live = !self.dead;
        if live {
            if let Some(check) = self.pending.take() {
                self.charges.push(Charge {
                    pos: self.code.len(),
                    cost: 0,
                    check,
                });
            }
            if let Some(charge) = self.charges.last_mut() {
                charge.cost += 1;
            }
        }
        match op {
            Operator::Block { .. } => {
                self.push_frame(FrameKind::Block, live);
                self.code.extend_from_slice(raw);
            }
            Operator::Loop { .. } => {
                self.push_frame(FrameKind::Loop, live);
                self.code.extend_from_slice(raw);
                self.start_run(true);
            }
            Operator::If { .. } => {
                self.push_frame(FrameKind::If, live);
                self.code.extend_from_slice(raw);
                self.start_run(false);
            }
            Operator::Else => {
                self.code.extend_from_slice(raw);
                let frame = self.frames.last_mut().ok_or_else(unbalanced)?;
                frame.kind = FrameKind::Else;
                let entered_live = frame.entered_live;
                self.dead = !entered_live;
                self.pending = None;
                self.start_run(false);
            }
            Operator::End => {
                self.code.extend_from_slice(raw);
                let frame = self.frames.pop().ok_or_else(unbalanced)?;
                match frame.kind {
                    // The function's last operator: nothing follows.
                    FrameKind::Func => {}
                    // Branches to a loop go to its header, so the code after `end` is reached only
                    // by falling through: it continues the current run.
                    FrameKind::Loop => {}
                    FrameKind::Block => {
                        if frame.targeted {
                            self.revive();
                        }
                    }
                    FrameKind::If | FrameKind::Else => {
                        if frame.entered_live {
                            self.revive();
                        }
                    }
                }
            }
            Operator::Br { relative_depth } => {
                self.code.extend_from_slice(raw);
                if live {
                    self.mark_target(*relative_depth)?;
                }
                self.kill();
            }
            Operator::BrIf { relative_depth } => {
                self.code.extend_from_slice(raw);
                if live {
                    self.mark_target(*relative_depth)?;
                }
                self.start_run(false);
            }
            Operator::BrTable { targets } => {
                self.code.extend_from_slice(raw);
                if live {
                    for target in targets.targets() {
                        self.mark_target(target?)?;
                    }
                    self.mark_target(targets.default())?;
                }
                self.kill();
            }
            Operator::Return | Operator::Unreachable | Operator::ReturnCallIndirect { .. } => {
                self.code.extend_from_slice(raw);
                self.kill();
            }
            Operator::ReturnCall { function_index } => {
                InstructionSink::new(&mut self.code)
                    .return_call(remap.function_index(*function_index));
                self.kill();
            }
            Operator::Call { function_index } => {
                InstructionSink::new(&mut self.code).call(remap.function_index(*function_index));
                self.start_run(false);
            }
            Operator::CallIndirect { .. } => {
                self.code.extend_from_slice(raw);
                self.start_run(false);
            }
            Operator::RefFunc { function_index } => {
                InstructionSink::new(&mut self.code)
                    .ref_func(remap.function_index(*function_index));
            }
            Operator::I32Store { memarg } => self.store(live, Slot::ValI32, 4, memarg, raw)?,
            Operator::I32Store8 { memarg } => self.store(live, Slot::ValI32, 1, memarg, raw)?,
            Operator::I32Store16 { memarg } => self.store(live, Slot::ValI32, 2, memarg, raw)?,
            Operator::I64Store { memarg } => self.store(live, Slot::ValI64, 8, memarg, raw)?,
            Operator::I64Store8 { memarg } => self.store(live, Slot::ValI64, 1, memarg, raw)?,
            Operator::I64Store16 { memarg } => self.store(live, Slot::ValI64, 2, memarg, raw)?,
            Operator::I64Store32 { memarg } => self.store(live, Slot::ValI64, 4, memarg, raw)?,
            Operator::F32Store { memarg } => self.store(live, Slot::ValF32, 4, memarg, raw)?,
            Operator::F64Store { memarg } => self.store(live, Slot::ValF64, 8, memarg, raw)?,
            Operator::MemoryCopy { .. }
            | Operator::MemoryFill { .. }
            | Operator::MemoryInit { .. } => {
                if live {
                    self.bulk_prefix()?;
                }
                self.code.extend_from_slice(raw);
            }
            _ => self.code.extend_from_slice(raw),
        }
        Ok(())
    }

    fn push_frame(&mut self, kind: FrameKind, live: bool) {
        self.frames.push(Frame {
            kind,
            entered_live: live,
            targeted: false,
        });
    }

    /// A new run starts at the next operator, if control can reach it.
    fn start_run(&mut self, check: bool) {
        if !self.dead {
            self.pending = Some(check);
        }
    }

    /// Control cannot fall through to the next operator.
    fn kill(&mut self) {
        self.dead = true;
        self.pending = None;
    }

    /// The next operator is a branch target (or the join of an `if`): it starts a reachable run.
    fn revive(&mut self) {
        self.dead = false;
        self.pending = Some(false);
    }

    fn mark_target(&mut self, depth: u32) -> Result<(), InstrumentError> {
        let index = usize::try_from(depth)
            .ok()
            .and_then(|d| self.frames.len().checked_sub(d.checked_add(1)?))
            .ok_or_else(unbalanced)?;
        if let Some(frame) = self.frames.get_mut(index) {
            frame.targeted = true;
        }
        Ok(())
    }

    fn slot(&mut self, slot: Slot) -> u32 {
        if let Some(index) = self.slots[slot as usize] {
            return index;
        }
        // Cannot overflow in practice: the total is checked against the locals limit at the end.
        let index = self
            .first_extra_local
            .saturating_add(self.extra_locals.len() as u32);
        self.extra_locals.push(slot.ty());
        self.slots[slot as usize] = Some(index);
        index
    }

    fn mark_pages_fn(&self) -> Result<u32, InstrumentError> {
        self.env.fn_mark_pages.ok_or(InstrumentError::Invalid(
            "memory instruction in a module without memory".to_string(),
        ))
    }

    /// Emits the dirty-page check for a store of `size` bytes, then the store itself.
    ///
    /// Stack on entry: `[addr, value]`. The value is parked in a local, the pages of the first
    /// and last byte are computed from the address, and the slow path runs only if one of their
    /// map bytes is 0.
    fn store(
        &mut self,
        live: bool,
        val: Slot,
        size: u32,
        memarg: &wasmparser::MemArg,
        raw: &[u8],
    ) -> Result<(), InstrumentError> {
        if live {
            let mark_pages = self.mark_pages_fn()?;
            let dirty_page = self.env.fn_dirty_page;
            let v = self.slot(val);
            let a = self.slot(Slot::Addr);
            let p = self.slot(Slot::First);
            let q = if size > 1 {
                Some(self.slot(Slot::Last))
            } else {
                None
            };
            // Wrapping arithmetic modulo 2^32, like the i32.add it stands for. If the real
            // address overflows, the store itself traps out of bounds.
            let first = memarg.offset as u32;
            let last = memarg.offset.wrapping_add(u64::from(size) - 1) as u32;
            let mut s = InstructionSink::new(&mut self.code);
            s.local_set(v).local_tee(a);
            if first != 0 {
                s.i32_const(first as i32).i32_add();
            }
            s.i32_const(PAGE_SIZE_LOG2 as i32)
                .i32_shr_u()
                .local_tee(p)
                .i32_load8_u(MAP_ARG);
            match q {
                None => {
                    s.i32_eqz()
                        .if_(BlockType::Empty)
                        .local_get(p)
                        .call(dirty_page)
                        .end();
                }
                Some(q) => {
                    s.local_get(a);
                    if last != 0 {
                        s.i32_const(last as i32).i32_add();
                    }
                    s.i32_const(PAGE_SIZE_LOG2 as i32)
                        .i32_shr_u()
                        .local_tee(q)
                        .i32_load8_u(MAP_ARG)
                        .i32_and()
                        .i32_eqz()
                        .if_(BlockType::Empty)
                        .local_get(p)
                        .local_get(q)
                        .call(mark_pages)
                        .end();
                }
            }
            s.local_get(a).local_get(v);
        }
        self.code.extend_from_slice(raw);
        Ok(())
    }

    /// Emits `dirty_range(dst, len)` before `memory.copy`, `memory.fill` or `memory.init`, whose
    /// operands are all i32: `[dst, src_or_value, len]`.
    fn bulk_prefix(&mut self) -> Result<(), InstrumentError> {
        // Only to refuse bulk operations in a module without memory (validation already does).
        self.mark_pages_fn()?;
        let dirty_range = self.env.fn_dirty_range;
        let a = self.slot(Slot::Addr);
        let x = self.slot(Slot::First);
        let n = self.slot(Slot::Last);
        InstructionSink::new(&mut self.code)
            .local_set(n)
            .local_set(x)
            .local_tee(a)
            .local_get(n)
            .call(dirty_range)
            .local_get(a)
            .local_get(x)
            .local_get(n);
        Ok(())
    }

    /// Builds the final body: locals (original, then the extra ones) and the code with the
    /// charge of each run spliced in at its start.
    fn assemble(self, mut locals: Vec<(u32, ValType)>) -> Vec<u8> {
        for ty in &self.extra_locals {
            match locals.last_mut() {
                Some((count, last)) if last == ty => *count += 1,
                _ => locals.push((1, *ty)),
            }
        }
        let mut out = Vec::with_capacity(self.code.len() + self.charges.len() * 20 + 16);
        let f = wasm_encoder::Function::new(locals);
        out.extend_from_slice(&f.into_raw_body());
        let mut copied = 0;
        for charge in &self.charges {
            if let Some(chunk) = self.code.get(copied..charge.pos) {
                out.extend_from_slice(chunk);
            }
            copied = charge.pos;
            let c = self.env.counter_global;
            let mut s = InstructionSink::new(&mut out);
            s.global_get(c)
                .i64_const(charge.cost as i64)
                .i64_sub()
                .global_set(c);
            if charge.check {
                s.global_get(c)
                    .i64_const(0)
                    .i64_lt_s()
                    .if_(BlockType::Empty)
                    .call(self.env.fn_out_of_instructions)
                    .end();
            }
        }
        if let Some(chunk) = self.code.get(copied..) {
            out.extend_from_slice(chunk);
        }
        out
    }
}

fn unbalanced() -> InstrumentError {
    InstrumentError::Invalid("unbalanced control frames".to_string())
}

/// The body of the `mark_pages(first: i32, last: i32)` helper: for each of the two pages whose
/// map byte is 0, call `dirty_page(page)`; the last page only if it differs from the first.
pub(crate) fn mark_pages_body(fn_dirty_page: u32) -> Vec<u8> {
    let mut f = wasm_encoder::Function::new([]);
    f.instructions()
        .local_get(0)
        .i32_load8_u(MAP_ARG)
        .i32_eqz()
        .if_(BlockType::Empty)
        .local_get(0)
        .call(fn_dirty_page)
        .end()
        .local_get(1)
        .local_get(0)
        .i32_ne()
        .if_(BlockType::Empty)
        .local_get(1)
        .i32_load8_u(MAP_ARG)
        .i32_eqz()
        .if_(BlockType::Empty)
        .local_get(1)
        .call(fn_dirty_page)
        .end()
        .end()
        .end();
    f.into_raw_body()
}
