//! Runs original and instrumented modules in wasmi with recording host stubs.

use emc_wasm_instrument::{
    instrument, Instrumented, EXPORT_COUNTER, EXPORT_DIRTY_MAP, IMPORT_DIRTY_PAGE,
    IMPORT_DIRTY_RANGE, IMPORT_MODULE, IMPORT_OUT_OF_INSTRUCTIONS,
};
use wasmi::{Caller, Config, Engine, Extern, Instance, Linker, Module, Store, Val};

/// What the host stubs saw.
#[derive(Default, Debug)]
pub struct Host {
    pub dirty_pages: Vec<u32>,
    pub dirty_ranges: Vec<(u32, u32)>,
    pub out_of_instructions: u32,
}

/// The features the output may use, for validating it with wasmparser.
pub fn output_features() -> wasmparser::WasmFeatures {
    use wasmparser::WasmFeatures as F;
    F::WASM2 | F::MUTABLE_GLOBAL | F::MULTI_MEMORY | F::TAIL_CALL | F::EXTENDED_CONST
}

pub fn validate_output(wasm: &[u8]) {
    wasmparser::Validator::new_with_features(output_features())
        .validate_all(wasm)
        .unwrap_or_else(|e| panic!("instrumented module does not validate: {e}"));
}

pub fn engine() -> Engine {
    Engine::new(&Config::default())
}

fn linker(engine: &Engine) -> Linker<Host> {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(
            IMPORT_MODULE,
            IMPORT_OUT_OF_INSTRUCTIONS,
            |mut caller: Caller<'_, Host>| {
                caller.data_mut().out_of_instructions += 1;
                Err::<(), _>(wasmi::Error::new("out of instructions"))
            },
        )
        .unwrap();
    linker
        .func_wrap(
            IMPORT_MODULE,
            IMPORT_DIRTY_PAGE,
            |mut caller: Caller<'_, Host>, page: i32| {
                let page = page as u32;
                caller.data_mut().dirty_pages.push(page);
                let map = caller
                    .get_export(EXPORT_DIRTY_MAP)
                    .and_then(Extern::into_memory)
                    .unwrap();
                map.data_mut(&mut caller)[page as usize] = 1;
            },
        )
        .unwrap();
    linker
        .func_wrap(
            IMPORT_MODULE,
            IMPORT_DIRTY_RANGE,
            |mut caller: Caller<'_, Host>, dst: i32, len: i32| {
                caller
                    .data_mut()
                    .dirty_ranges
                    .push((dst as u32, len as u32));
            },
        )
        .unwrap();
    // Imports the test programs use.
    linker
        .func_wrap("env", "ext", |x: i32| x.wrapping_add(1000))
        .unwrap();
    linker
}

/// A module instantiated in wasmi.
pub struct Vm {
    pub store: Store<Host>,
    pub instance: Instance,
}

impl Vm {
    pub fn new(wasm: &[u8]) -> Result<Vm, wasmi::Error> {
        let engine = engine();
        let module = Module::new(&engine, wasm)?;
        let mut store = Store::new(&engine, Host::default());
        let instance = linker(&engine).instantiate_and_start(&mut store, &module)?;
        Ok(Vm { store, instance })
    }

    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, wasmi::Error> {
        let func = self
            .instance
            .get_func(&self.store, name)
            .unwrap_or_else(|| panic!("{name}"));
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        func.call(&mut self.store, args, &mut results)?;
        Ok(results)
    }

    pub fn host(&self) -> &Host {
        self.store.data()
    }

    pub fn reset_host(&mut self) {
        *self.store.data_mut() = Host::default();
    }
}

/// The original module, run without instrumentation.
pub fn original(wat: &str) -> Vm {
    Vm::new(&wat::parse_str(wat).unwrap()).unwrap()
}

/// An instrumented module, checked to validate, and instantiated.
pub struct IVm {
    pub vm: Vm,
    pub out: Instrumented,
}

pub fn instrumented(wat: &str) -> IVm {
    instrumented_wasm(&wat::parse_str(wat).unwrap())
}

pub fn instrumented_wasm(wasm: &[u8]) -> IVm {
    let out = instrument(wasm).unwrap();
    validate_output(&out.wasm);
    let vm = Vm::new(&out.wasm).unwrap();
    IVm { vm, out }
}

/// A limit large enough never to run out in these tests.
pub const PLENTY: i64 = 1 << 40;

impl IVm {
    pub fn counter(&self) -> i64 {
        let g = self
            .vm
            .instance
            .get_global(&self.vm.store, EXPORT_COUNTER)
            .unwrap();
        match g.get(&self.vm.store) {
            Val::I64(v) => v,
            other => panic!("counter is {other:?}"),
        }
    }

    pub fn set_counter(&mut self, value: i64) {
        let g = self
            .vm
            .instance
            .get_global(&self.vm.store, EXPORT_COUNTER)
            .unwrap();
        g.set(&mut self.vm.store, Val::I64(value)).unwrap();
    }

    /// Calls `name` with an ample limit and returns its results and the instructions it used.
    pub fn cost(&mut self, name: &str, args: &[Val]) -> (Vec<Val>, i64) {
        self.set_counter(PLENTY);
        let results = self.vm.call(name, args).unwrap();
        (results, PLENTY - self.counter())
    }

    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, wasmi::Error> {
        self.vm.call(name, args)
    }

    pub fn host(&self) -> &Host {
        self.vm.host()
    }

    /// Clears the stubs' records and the dirty map, as the host does after a message.
    pub fn reset_dirty(&mut self) {
        self.vm.reset_host();
        if let Some(map) = self
            .vm
            .instance
            .get_memory(&self.vm.store, EXPORT_DIRTY_MAP)
        {
            map.data_mut(&mut self.vm.store).fill(0);
        }
    }
}

/// A comparable rendering of results (wasmi values are not `PartialEq`).
pub fn show(results: &Result<Vec<Val>, wasmi::Error>) -> String {
    match results {
        Ok(values) => values
            .iter()
            .map(|v| match v {
                Val::I32(x) => format!("i32:{x}"),
                Val::I64(x) => format!("i64:{x}"),
                Val::F32(x) => format!("f32:{:#x}", x.to_bits()),
                Val::F64(x) => format!("f64:{:#x}", x.to_bits()),
                Val::FuncRef(r) => format!("funcref:null={}", r.is_null()),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(","),
        Err(_) => "trap".to_string(),
    }
}

pub fn i32s(values: &[Val]) -> Vec<i32> {
    values
        .iter()
        .map(|v| match v {
            Val::I32(x) => *x,
            other => panic!("not an i32: {other:?}"),
        })
        .collect()
}

pub mod oracle;
