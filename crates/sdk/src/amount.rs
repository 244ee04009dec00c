//! Amounts of $EMC as people type them: decimal EMC with at most 8 decimals (1 EMC = 10^8
//! e8s). Pure: no IO.

/// e8s in one EMC.
pub const E8S_PER_EMC: u64 = 100_000_000;
/// Decimals of the $EMC ledger.
pub const DECIMALS: usize = 8;

/// Why a typed amount is not a valid number of EMC.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Nothing typed.
    #[error("empty amount")]
    Empty,
    /// A minus sign: amounts are never negative.
    #[error("negative amount {0:?}: amounts are positive numbers of EMC")]
    Negative(String),
    /// Not a decimal number.
    #[error("invalid amount {0:?}: expected a decimal number of EMC such as 12 or 0.5")]
    Invalid(String),
    /// More than 8 decimals: below one e8s.
    #[error("amount {0:?} has more than 8 decimals (the smallest unit is 0.00000001 EMC)")]
    TooManyDecimals(String),
    /// Above what 64 bits of e8s hold.
    #[error("amount {0:?} is too large (at most 184467440737.09551615 EMC)")]
    Overflow(String),
}

/// Parses decimal EMC (`"12"`, `"0.5"`, `"1_000.25"` is refused, `".5"` and `"5."` are
/// accepted) into e8s.
///
/// ```
/// use emc_sdk::amount::{parse_emc, AmountError};
/// assert_eq!(parse_emc("1.5"), Ok(150_000_000));
/// assert_eq!(parse_emc("0.00000001"), Ok(1));
/// assert!(matches!(parse_emc("0.000000001"), Err(AmountError::TooManyDecimals(_))));
/// assert!(matches!(parse_emc("-1"), Err(AmountError::Negative(_))));
/// ```
pub fn parse_emc(text: &str) -> Result<u64, AmountError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if s.starts_with('-') {
        return Err(AmountError::Negative(s.to_string()));
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(AmountError::Invalid(s.to_string()));
    }
    if frac.len() > DECIMALS {
        return Err(AmountError::TooManyDecimals(s.to_string()));
    }
    let overflow = || AmountError::Overflow(s.to_string());
    let mut e8s: u64 = 0;
    for b in int.bytes() {
        e8s = e8s
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    e8s = e8s.checked_mul(E8S_PER_EMC).ok_or_else(overflow)?;
    let mut f: u64 = 0;
    for i in 0..DECIMALS {
        let d = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
        f = f * 10 + d;
    }
    e8s.checked_add(f).ok_or_else(overflow)
}

/// Formats e8s as decimal EMC without trailing zeros (`150_000_000` → `"1.5"`, `0` → `"0"`).
///
/// ```
/// assert_eq!(emc_sdk::amount::format_emc(150_000_000), "1.5");
/// assert_eq!(emc_sdk::amount::format_emc(1), "0.00000001");
/// ```
pub fn format_emc(e8s: u64) -> String {
    let int = e8s / E8S_PER_EMC;
    let frac = e8s % E8S_PER_EMC;
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:08}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse_emc("0"), Ok(0));
        assert_eq!(parse_emc(" 12 "), Ok(12 * E8S_PER_EMC));
        assert_eq!(parse_emc(".5"), Ok(50_000_000));
        assert_eq!(parse_emc("5."), Ok(5 * E8S_PER_EMC));
        assert_eq!(parse_emc("184467440737.09551615"), Ok(u64::MAX));
        assert!(matches!(
            parse_emc("184467440737.09551616"),
            Err(AmountError::Overflow(_))
        ));
        assert!(matches!(
            parse_emc("99999999999999999999999"),
            Err(AmountError::Overflow(_))
        ));
        assert_eq!(parse_emc(""), Err(AmountError::Empty));
        for bad in [
            ".", "1.2.3", "1e5", "abc", "+1", "1,5", "0x10", "1 000", "١",
        ] {
            assert!(
                matches!(parse_emc(bad), Err(AmountError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(parse_emc("-0.1"), Err(AmountError::Negative(_))));
        assert!(matches!(
            parse_emc("1.123456789"),
            Err(AmountError::TooManyDecimals(_))
        ));
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(e8s in any::<u64>()) {
            prop_assert_eq!(parse_emc(&format_emc(e8s)), Ok(e8s));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse_emc(&s);
        }
    }
}
