//! The one error type of every client and wrapper.

pub use emc_embedded_ic::RejectCode;

/// Why a canister call (or setting up a client) failed.
///
/// The typed wrappers return `Result<Result<T, CanisterError>, IcError>`: an `IcError` means
/// the call produced no decodable reply; the inner error is the canister's own answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IcError {
    /// The replica or the embedded IC could not be reached, the HTTP exchange failed, the call
    /// timed out, or the embedded host has stopped. Retrying later may succeed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The IC rejected the call (unknown canister or method, a trap, an explicit reject, a
    /// refusal in `inspect_message`, …).
    #[error("call rejected ({code:?}): {message}")]
    Reject {
        /// The IC's reject code.
        code: RejectCode,
        /// The reject message (with the replica's error code, e.g. `IC0536`, where it gave one).
        message: String,
    },
    /// The reply is not the candid the caller expected.
    #[error("cannot decode the reply: {0}")]
    Decode(String),
    /// The argument could not be candid-encoded.
    #[error("cannot encode the argument: {0}")]
    Encode(String),
    /// The identity could not be loaded, derived or used for signing.
    #[error("identity error: {0}")]
    Identity(String),
    /// A bad client setting (URL, clock mode, …).
    #[error("configuration error: {0}")]
    Config(String),
    /// The replica's answer could not be verified or understood (certificate, CBOR, status).
    #[error("invalid response from the replica: {0}")]
    Protocol(String),
    /// The embedded host refused a management operation (install of a bad wasm, a trap in
    /// `init`, …).
    #[error("embedded IC: {0}")]
    Host(String),
}

impl IcError {
    /// Whether trying the same call again later may succeed: transport failures and
    /// `SYS_TRANSIENT` rejects. After a transport failure an update may still have executed:
    /// retry only calls the canister deduplicates (e.g. ledger transfers with
    /// `created_at_time` and a memo) or that are harmless twice.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            IcError::Transport(_)
                | IcError::Reject {
                    code: RejectCode::SysTransient,
                    ..
                }
        )
    }
}

impl From<emc_embedded_ic::Reject> for IcError {
    fn from(r: emc_embedded_ic::Reject) -> Self {
        IcError::Reject {
            code: r.code,
            message: r.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors() {
        assert!(IcError::Transport("x".into()).is_transient());
        assert!(IcError::Reject {
            code: RejectCode::SysTransient,
            message: String::new()
        }
        .is_transient());
        assert!(!IcError::Reject {
            code: RejectCode::CanisterError,
            message: String::new()
        }
        .is_transient());
        assert!(!IcError::Decode("x".into()).is_transient());
    }
}
