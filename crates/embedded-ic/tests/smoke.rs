use candid::{Decode, Encode, Principal};
use emc_embedded_ic::EmbeddedIc;

#[test]
fn smoke() {
    let wasm = emc_test_env::canister_wasm("test-canister");
    let mut ic = EmbeddedIc::new();
    let admin = emc_embedded_ic::user_principal(1);
    let id = ic.install_canister(&wasm, Encode!(&None::<()>).unwrap(), vec![admin]).unwrap();
    let r = ic.query_call(id, admin, "greet", Encode!(&"x").unwrap()).unwrap();
    println!("{}", Decode!(&r, String).unwrap());
    let r = ic.update_call(id, admin, "inc", Encode!().unwrap()).unwrap();
    println!("{} instr {}", Decode!(&r, u64).unwrap(), ic.last_instructions());
    let _ = Principal::anonymous();
}
