//! Operator classification: which proposal an operator belongs to, its text-format name, and
//! whether the instrumented module may contain it.
//!
//! The table is generated from `wasmparser::for_each_operator!`, so it covers every operator the
//! parser knows (including SIMD) without a hand-written list that could fall out of date.

use wasmparser::Operator;

/// Static facts about one operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OpInfo {
    /// The proposal the operator comes from, as named by wasmparser (`mvp`, `simd`, `threads`...).
    pub proposal: &'static str,
    /// The wasmparser visitor name without its `visit_` prefix, e.g. `i32_store8`.
    pub name: &'static str,
}

macro_rules! define_op_info {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// Returns the proposal and name of `op`.
        #[allow(unreachable_patterns)]
        pub(crate) fn op_info(op: &Operator<'_>) -> OpInfo {
            match op {
                $(
                    Operator::$op { .. } => OpInfo {
                        proposal: stringify!($proposal),
                        name: strip_visit(stringify!($visit)),
                    },
                )*
                _ => OpInfo { proposal: "unknown", name: "unknown" },
            }
        }
    };
}

wasmparser::for_each_operator!(define_op_info);

const fn strip_visit(name: &'static str) -> &'static str {
    match name.as_bytes() {
        [b'v', b'i', b's', b'i', b't', b'_', rest @ ..] => {
            // `rest` is a suffix of a valid UTF-8 string that starts after an ASCII prefix.
            match core::str::from_utf8(rest) {
                Ok(s) => s,
                Err(_) => name,
            }
        }
        _ => name,
    }
}

/// Why an operator is refused, or `None` if the instrumented module may contain it.
pub(crate) fn refusal(op: &Operator<'_>, info: OpInfo) -> Option<&'static str> {
    match op {
        Operator::TableSet { .. }
        | Operator::TableGrow { .. }
        | Operator::TableFill { .. }
        | Operator::TableCopy { .. }
        | Operator::TableInit { .. }
        | Operator::ElemDrop { .. } => {
            return Some(
                "it mutates a table or an element segment, which the host cannot roll back",
            )
        }
        Operator::DataDrop { .. } => {
            return Some("it drops a data segment, which the host cannot roll back")
        }
        _ => {}
    }
    match info.proposal {
        "mvp"
        | "sign_extension"
        | "saturating_float_to_int"
        | "bulk_memory"
        | "reference_types"
        | "tail_call" => None,
        "threads" => {
            Some("atomic instructions are not supported (canister heaps are single-threaded)")
        }
        "simd" | "relaxed_simd" => Some("SIMD instructions are not supported"),
        _ => Some("instructions of this proposal are not supported"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_proposals() {
        let info = op_info(&Operator::I32Store8 {
            memarg: wasmparser::MemArg {
                align: 0,
                max_align: 0,
                offset: 0,
                memory: 0,
            },
        });
        assert_eq!(
            info,
            OpInfo {
                proposal: "mvp",
                name: "i32_store8"
            }
        );
        let info = op_info(&Operator::TableSet { table: 0 });
        assert_eq!(info.proposal, "reference_types");
        assert!(refusal(&Operator::TableSet { table: 0 }, info).is_some());
        let info = op_info(&Operator::AtomicFence);
        assert_eq!(info.proposal, "threads");
        assert!(refusal(&Operator::AtomicFence, info).is_some());
        let info = op_info(&Operator::MemoryCopy {
            dst_mem: 0,
            src_mem: 0,
        });
        assert_eq!(
            refusal(
                &Operator::MemoryCopy {
                    dst_mem: 0,
                    src_mem: 0
                },
                info
            ),
            None
        );
    }
}
