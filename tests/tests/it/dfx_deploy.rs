//! `scripts/dfx-deploy.sh` (for users with dfx; no dfx here): each install argument it writes in
//! candid text parses and decodes into the canister's own install type, so a deploy never fails
//! on a typo in the script.

use candid::{Decode, Principal};
use candid_parser::parse_idl_args;

fn script() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/dfx-deploy.sh"
    ))
    .unwrap()
}

/// The genesis the arguments carry (`$genesis_ns`), nanoseconds since the Unix epoch.
pub(crate) const GENESIS_NS: u64 = 1_800_000_000_000_000_000;

/// The candid text assigned to `name` in the script, with its shell variables filled in.
pub(crate) fn arg(name: &str) -> Vec<u8> {
    let s = script();
    let start = s
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("{name} not in the script"))
        + name.len()
        + 2;
    let end = start + s[start..].find("})\"").unwrap() + 2;
    // Distinct principals, as on a network: the ledger refuses a fee collector that is the
    // minting account (the epochs canister), for one.
    let principal = |last: u8| Principal::from_slice(&[1, 2, last]).to_text();
    let text = s[start..end]
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
        .replace("$me", &principal(3))
        .replace("$ledger_id", &principal(4))
        .replace("$registry_id", &principal(5))
        .replace("$epochs_id", &principal(6))
        .replace("$market_id", &principal(7))
        .replace("$sockets_id", &principal(8))
        .replace("$genesis_ns", &GENESIS_NS.to_string());
    assert!(
        !text.contains('$'),
        "an unfilled variable in {name}: {text}"
    );
    let args = parse_idl_args(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
    args.to_bytes().unwrap()
}

#[test]
fn the_deploy_script_arguments_decode_into_the_install_types() {
    let ledger = arg("ledger_arg");
    let l = Decode!(&ledger, emc_ledger::LedgerArg).unwrap();
    assert!(matches!(l, emc_ledger::LedgerArg::Init(_)));
    let registry = arg("registry_arg");
    let r = Decode!(&registry, emc_registry::RegistryArg).unwrap();
    assert!(
        matches!(r, emc_registry::RegistryArg::Init(ref a) if a.genesis_time.is_some() && a.epochs_canister.is_some())
    );
    let epochs = arg("epochs_arg");
    let e = Decode!(&epochs, emc_epochs::EpochsArg).unwrap();
    assert!(matches!(e, emc_epochs::EpochsArg::Init(_)));
    let market = arg("market_arg");
    let m = Decode!(&market, emc_market::MarketArg).unwrap();
    assert!(
        matches!(m, emc_market::MarketArg::Init(ref a) if a.epochs == Principal::from_slice(&[1, 2, 6]))
    );
    let dao = Decode!(&arg("dao_arg"), emc_dao::InitArgs).unwrap();
    assert_eq!(dao.epochs, Principal::from_slice(&[1, 2, 6]));
    // Only the market mints sockets.
    let sockets = arg("sockets_arg");
    let s = Decode!(&sockets, emc_sockets::SocketsArg).unwrap();
    assert!(
        matches!(s, emc_sockets::SocketsArg::Init(ref a) if a.minters == vec![Principal::from_slice(&[1, 2, 7])])
    );
}
