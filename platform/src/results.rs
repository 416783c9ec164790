//! The reports of recent invocations, by id (`GET /invocations/{id}`): each
//! function's return value and status, the timings, whether instances were
//! cold. Bounded: the oldest are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many reports are kept.
const KEPT: usize = 4096;

#[derive(Default)]
pub struct Results {
    inner: Mutex<(HashMap<String, serde_json::Value>, VecDeque<String>)>,
}

impl Results {
    pub fn put(&self, id: &str, report: serde_json::Value) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *g;
        if map.insert(id.to_string(), report).is_none() {
            order.push_back(id.to_string());
        }
        while order.len() > KEPT {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<serde_json::Value> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_reports_are_forgotten_first() {
        let r = Results::default();
        for k in 0..KEPT + 2 {
            r.put(&k.to_string(), serde_json::json!(k));
        }
        assert!(r.get("0").is_none() && r.get("1").is_none());
        assert_eq!(r.get("2"), Some(serde_json::json!(2)));
        assert_eq!(
            r.get(&(KEPT + 1).to_string()),
            Some(serde_json::json!(KEPT + 1))
        );
    }
}
