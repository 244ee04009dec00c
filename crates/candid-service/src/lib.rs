//! Builds a canister's Candid interface from the same Rust types its ic-cdk shell uses, the way
//! `ic_cdk::export_candid!()` builds it: methods sorted by name, the install argument as the
//! service class's argument, and the types' doc comments in the text. Each canister lists its
//! methods once (`interface.rs`); its tests keep `candid/<name>.did` equal to that text, and a
//! workspace test checks that the wasm exports the same service.
//!
//! ```
//! use emc_candid_service::ServiceBuilder;
//! let mut s = ServiceBuilder::new();
//! let (arg, ret) = (s.ty::<String>(), s.ty::<u64>());
//! s.method("count", true, vec![arg], vec![ret]);
//! assert_eq!(s.did::<bool>().trim(), "service : (bool) -> { count : (text) -> (nat64) query }");
//! ```

#![forbid(unsafe_code)]

use candid::types::{internal::TypeContainer, CandidType, FuncMode, Function, Type, TypeInner};

/// Collects a service's methods and the types they use.
pub struct ServiceBuilder {
    env: TypeContainer,
    methods: Vec<(String, Type)>,
}

impl Default for ServiceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceBuilder {
    pub fn new() -> Self {
        ServiceBuilder {
            env: TypeContainer::new(),
            methods: Vec::new(),
        }
    }

    /// The candid type of `T`, registered with its named sub-types.
    pub fn ty<T: CandidType>(&mut self) -> Type {
        self.env.add::<T>()
    }

    /// Adds a method (an update, or a query when `query`).
    pub fn method(&mut self, name: &str, query: bool, args: Vec<Type>, rets: Vec<Type>) {
        let modes = if query { vec![FuncMode::Query] } else { vec![] };
        self.methods.push((
            name.to_string(),
            TypeInner::Func(Function { modes, args, rets }).into(),
        ));
    }

    /// The `.did` text of the service whose install argument is `Init`.
    pub fn did<Init: CandidType>(mut self) -> String {
        let init = vec![self.ty::<Init>()];
        self.methods.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let service: Type = TypeInner::Service(self.methods).into();
        let actor = Some(TypeInner::Class(init, service).into());
        let mut docs = candid::pretty::candid::DocComments::empty();
        docs.extend_types(self.env.docs.clone());
        candid::pretty::candid::compile_with_docs(&self.env.env, &actor, &docs)
    }
}

/// Adds a method to a [`ServiceBuilder`] from its Rust signature:
/// `method!(s, "name", query, (Arg1, Arg2) -> (Ret))`.
#[macro_export]
macro_rules! method {
    ($s:ident, $name:literal, $query:expr, ($($a:ty),*) -> ($($r:ty),*)) => {{
        let args = vec![$($s.ty::<$a>()),*];
        let rets = vec![$($s.ty::<$r>()),*];
        $s.method($name, $query, args, rets);
    }};
}
