//! A value shared between a node's tasks, its status endpoint and its metrics.

use std::sync::{Arc, Mutex};

/// A value shared by a node's tasks (cheap to clone; short critical sections only).
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T: Clone> Shared<T> {
    /// Wraps a value.
    pub fn new(v: T) -> Self {
        Shared(Arc::new(Mutex::new(v)))
    }

    /// A copy of the value.
    pub fn get(&self) -> T {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Changes the value.
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        match self.0.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}
