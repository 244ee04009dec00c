//! ICRC-21 consent messages for `icrc1_transfer`, `icrc2_approve` and `icrc2_transfer_from`.
//! Amounts are formatted exactly from integers (no floats); times as UTC (or the caller's
//! offset) in ISO 8601.

use candid::de::DecoderConfig;
use candid::{CandidType, Nat, Principal};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg};
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use icrc_ledger_types::icrc2::transfer_from::TransferFromArgs;
use icrc_ledger_types::icrc21::errors::{ErrorInfo, Icrc21Error};
use icrc_ledger_types::icrc21::requests::{
    ConsentMessageMetadata, ConsentMessageRequest, DisplayMessageType,
};
use icrc_ledger_types::icrc21::responses::{ConsentInfo, ConsentMessage, FieldsDisplay, Value};
use serde::de::DeserializeOwned;

/// What the consent message needs to know about the ledger.
pub struct TokenInfo<'a> {
    /// Token symbol.
    pub symbol: &'a str,
    /// Decimals.
    pub decimals: u8,
    /// Current fee.
    pub fee: u64,
}

/// Formats `amount` base units with `decimals` decimals, exactly ("1.5", "0.0001", "12").
pub fn format_tokens(amount: &Nat, decimals: u8) -> String {
    let digits = amount.0.to_string();
    let d = usize::from(decimals);
    if d == 0 {
        return digits;
    }
    let padded = if digits.len() <= d {
        format!("{}{}", "0".repeat(d + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Formats nanoseconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC±hh:mm`.
pub fn format_time(ns: u64, utc_offset_minutes: Option<i16>) -> String {
    let offset = i64::from(utc_offset_minutes.unwrap_or(0)).clamp(-24 * 60, 24 * 60);
    let secs = i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX / 2) + offset * 60;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC{sign}{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        offset.abs() / 60,
        offset.abs() % 60
    )
}

fn decode<T: DeserializeOwned + CandidType>(arg: &[u8]) -> Result<T, Icrc21Error> {
    let mut config = DecoderConfig::new();
    config.set_decoding_quota(1_000_000);
    config.set_skipping_quota(10_000);
    candid::utils::decode_one_with_config(arg, &config).map_err(|e| {
        Icrc21Error::UnsupportedCanisterCall(ErrorInfo {
            description: format!("the argument does not decode: {e}"),
        })
    })
}

fn unavailable(description: impl Into<String>) -> Icrc21Error {
    Icrc21Error::ConsentMessageUnavailable(ErrorInfo {
        description: description.into(),
    })
}

/// A message built as a list of fields, rendered either as fields or as markdown.
struct Builder {
    intent: String,
    fields: Vec<(String, Value, String)>,
}

impl Builder {
    fn text(&mut self, name: &str, content: String) {
        self.fields.push((
            name.into(),
            Value::Text {
                content: content.clone(),
            },
            format!("`{content}`"),
        ));
    }

    fn amount(&mut self, name: &str, amount: &Nat, token: &TokenInfo<'_>) {
        let text = format!("{} {}", format_tokens(amount, token.decimals), token.symbol);
        let value = match u64::try_from(&amount.0) {
            Ok(a) => Value::TokenAmount {
                decimals: token.decimals,
                amount: a,
                symbol: token.symbol.into(),
            },
            Err(_) => Value::Text {
                content: text.clone(),
            },
        };
        self.fields.push((name.into(), value, format!("`{text}`")));
    }

    fn memo(&mut self, memo: &Option<Memo>) {
        if let Some(m) = memo {
            let s = match std::str::from_utf8(&m.0) {
                Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
                _ => m.0.iter().map(|b| format!("{b:02x}")).collect(),
            };
            self.text("Memo", s);
        }
    }

    fn finish(self, spec: &ConsentMessageRequest) -> ConsentInfo {
        let consent_message = match spec.user_preferences.device_spec {
            Some(DisplayMessageType::FieldsDisplay) => {
                ConsentMessage::FieldsDisplayMessage(FieldsDisplay {
                    intent: self.intent,
                    fields: self.fields.into_iter().map(|(n, v, _)| (n, v)).collect(),
                })
            }
            _ => {
                let mut s = format!("# {}", self.intent);
                for (n, _, md) in self.fields {
                    s.push_str(&format!("\n\n**{n}:**\n{md}"));
                }
                ConsentMessage::GenericDisplayMessage(s)
            }
        };
        ConsentInfo {
            consent_message,
            metadata: ConsentMessageMetadata {
                language: "en".into(),
                utc_offset_minutes: spec.user_preferences.metadata.utc_offset_minutes,
            },
        }
    }
}

fn check_fee(fee: &Option<Nat>, token: &TokenInfo<'_>) -> Result<(), Icrc21Error> {
    match fee {
        Some(f) if u64::try_from(&f.0).ok() != Some(token.fee) => Err(unavailable(format!(
            "the fee {} does not match the ledger fee {}",
            f.0, token.fee
        ))),
        _ => Ok(()),
    }
}

/// `icrc21_canister_call_consent_message` for a call made by `caller`.
pub fn consent_message(
    req: &ConsentMessageRequest,
    caller: Principal,
    token: &TokenInfo<'_>,
) -> Result<ConsentInfo, Icrc21Error> {
    let offset = req.user_preferences.metadata.utc_offset_minutes;
    let signer = |sub| {
        (caller != Principal::anonymous()).then_some(Account {
            owner: caller,
            subaccount: sub,
        })
    };
    let fee = Nat::from(token.fee);
    let mut b = Builder {
        intent: String::new(),
        fields: vec![],
    };
    match req.method.as_str() {
        "icrc1_transfer" => {
            let a: TransferArg = decode(&req.arg)?;
            check_fee(&a.fee, token)?;
            b.intent = format!("Send {}", token.symbol);
            if let Some(from) = signer(a.from_subaccount) {
                b.text("From", from.to_string());
            }
            b.amount("Amount", &a.amount, token);
            b.text("To", a.to.to_string());
            b.amount("Fees", &fee, token);
            b.memo(&a.memo);
        }
        "icrc2_approve" => {
            let a: ApproveArgs = decode(&req.arg)?;
            check_fee(&a.fee, token)?;
            b.intent = "Approve spending".into();
            if let Some(from) = signer(a.from_subaccount) {
                b.text("From", from.to_string());
            }
            b.text("Approve to spender", a.spender.to_string());
            b.amount("Requested allowance", &a.amount, token);
            if let Some(e) = &a.expected_allowance {
                b.amount("Existing allowance", e, token);
            }
            match a.expires_at {
                Some(t) => b.text("Approval expiration", format_time(t, offset)),
                None => b.text(
                    "Approval expiration",
                    "This approval does not expire.".into(),
                ),
            }
            b.amount("Approval fees", &fee, token);
            b.memo(&a.memo);
        }
        "icrc2_transfer_from" => {
            let a: TransferFromArgs = decode(&req.arg)?;
            check_fee(&a.fee, token)?;
            b.intent = format!("Spend {}", token.symbol);
            b.text("From", a.from.to_string());
            b.amount("Amount", &a.amount, token);
            if let Some(spender) = signer(a.spender_subaccount) {
                b.text("Spender", spender.to_string());
            }
            b.text("To", a.to.to_string());
            b.amount("Fees", &fee, token);
            b.memo(&a.memo);
        }
        other => {
            return Err(Icrc21Error::UnsupportedCanisterCall(ErrorInfo {
                description: format!("no consent message for method {other:?}"),
            }))
        }
    }
    Ok(b.finish(req))
}
