//! The deployed functions (each with its pool of instances) and chains.
//! Every change is checked against the rest first: a chain names deployed
//! functions, a function in use by a chain is not deleted, and a refused
//! change changes nothing.

use crate::config::{ChainDef, ChainSpec, DefError, FunctionDef};
use crate::metrics::Metrics;
use crate::pool::{Pool, Starter};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Registry {
    functions: BTreeMap<String, Arc<Pool>>,
    chains: BTreeMap<String, Arc<ChainDef>>,
}

/// What a change did.
#[derive(Debug, PartialEq)]
pub enum Change {
    Created,
    Replaced,
}

impl Registry {
    pub fn function(&self, name: &str) -> Option<Arc<Pool>> {
        self.functions.get(name).cloned()
    }

    pub fn chain(&self, name: &str) -> Option<Arc<ChainDef>> {
        self.chains.get(name).cloned()
    }

    pub fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.functions.values()
    }

    pub fn chains(&self) -> impl Iterator<Item = &Arc<ChainDef>> {
        self.chains.values()
    }

    /// Deploys a function; a replaced one's instances are stopped (those
    /// leased when their invocation ends).
    pub fn put_function(
        &mut self,
        def: FunctionDef,
        starter: &Arc<Starter>,
        metrics: &Arc<Metrics>,
    ) -> Result<Change, DefError> {
        for c in self.chains.values() {
            let uses = c.functions.iter().filter(|f| **f == def.name).count();
            if uses > def.max_instances {
                return Err(DefError {
                    field: "max_instances".into(),
                    reason: format!("chain {:?} uses this function {uses} times", c.name),
                });
            }
        }
        let join_secret = match (def.joins, &starter.join_secret) {
            (true, None) => {
                return Err(DefError {
                    field: "joins".into(),
                    reason: "this node has no join_secret_file".into(),
                })
            }
            (true, Some(secret)) => Some(secret.as_str()),
            (false, _) => None,
        };
        let name = def.name.clone();
        let pool = Arc::new(Pool::new(def, Arc::clone(starter), Arc::clone(metrics)));
        let change = match self.functions.insert(name, Arc::clone(&pool)) {
            Some(old) => {
                old.close();
                Change::Replaced
            }
            None => Change::Created,
        };
        if let Some(secret) = join_secret {
            // The old pool (same token) is closed now.
            pool.open_joins(secret).map_err(|reason| DefError {
                field: "joins".into(),
                reason,
            })?;
        }
        Ok(change)
    }

    /// Deletes a function no chain uses; `None`: there was none of that name.
    pub fn delete_function(&mut self, name: &str) -> Option<Result<(), DefError>> {
        if let Some(c) = self
            .chains
            .values()
            .find(|c| c.functions.iter().any(|f| f == name))
        {
            return Some(Err(DefError {
                field: "name".into(),
                reason: format!("chain {:?} uses it; delete or replace that first", c.name),
            }));
        }
        let pool = self.functions.remove(name)?;
        pool.close();
        Some(Ok(()))
    }

    /// Deploys a chain of deployed functions.
    pub fn put_chain(
        &mut self,
        spec: ChainSpec,
        path_name: Option<&str>,
    ) -> Result<Change, DefError> {
        let max_of = |n: &str| self.functions.get(n).map(|p| p.def.max_instances);
        let def = spec.check(path_name, &max_of)?;
        Ok(match self.chains.insert(def.name.clone(), Arc::new(def)) {
            Some(_) => Change::Replaced,
            None => Change::Created,
        })
    }

    /// Deploys a chain already checked against the functions (a config
    /// file's).
    pub fn put_chain_def(&mut self, def: ChainDef) {
        self.chains.insert(def.name.clone(), Arc::new(def));
    }

    pub fn delete_chain(&mut self, name: &str) -> bool {
        self.chains.remove(name).is_some()
    }

    /// Stops every instance: the service is going away.
    pub fn close_all(&self) {
        self.functions.values().for_each(|p| p.close());
    }
}

/// A function's definition as the admin API shows it.
pub fn describe_function(p: &Pool) -> serde_json::Value {
    let d = &p.def;
    let f = &d.function;
    let (idle, busy, waiting) = p.counts();
    serde_json::json!({
        "name": d.name,
        "command": f.command.argv(),
        "image": f.image,
        "env": f.env,
        "stdio": f.stdio,
        "kind": if d.lambda.is_some() { "lambda" } else { "faasin" },
        "event": d.lambda.as_ref().map(|l| if l.body_event { "body" } else { "params" }),
        "memory": f.memory,
        "timeout": d.timeout.as_secs_f64(),
        "max_instances": d.max_instances,
        "idle": d.idle.as_secs_f64(),
        "queue": d.queue,
        "instances": {"idle": idle, "busy": busy, "waiting": waiting},
    })
}

/// A chain's definition as the admin API shows it.
pub fn describe_chain(c: &ChainDef) -> serde_json::Value {
    serde_json::json!({
        "name": c.name,
        "functions": c.functions,
        "capacities": c.capacities,
        "transport": c.transport.name(),
    })
}
