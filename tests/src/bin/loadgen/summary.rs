//! Summaries of the suite's per-run reports: the median, min and max of every figure over
//! the rounds of a scenario ([`rounds`]), and the last run over the first of a soak
//! ([`first_vs_last`]). A figure is any number in a run's report except the run's identity
//! and parameters (`run`, `round`, `load`, `streams`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Three decimals: CPU-ms per SET are often below 1.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

const NOT_FIGURES: [&str; 4] = ["run", "round", "load", "streams"];

/// Every numeric leaf of `v` by its path (`latency_ms.p50`).
fn figures(v: &Value, prefix: &str, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if prefix.is_empty() && NOT_FIGURES.contains(&k.as_str()) {
                    continue;
                }
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                figures(x, &path, out);
            }
        }
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_owned(), x);
            }
        }
        _ => {}
    }
}

/// Puts `value` at the dotted `path` of `root`.
fn insert(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut node = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_owned(), value);
            return;
        }
        let child = node
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        let Value::Object(next) = child else { return };
        node = next;
    }
}

/// The median (the mean of the two middle values for an even count), min and max.
fn stats(values: &mut [f64]) -> Value {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    json!({"median": round(median), "min": round(values[0]), "max": round(values[n - 1])})
}

/// Per scenario (in first-seen order), `{runs, complete_runs, <figure>: {median, min, max}}`
/// over its runs.
pub(crate) fn rounds(runs: &[Value]) -> Value {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for run in runs {
        let name = run["scenario"].as_str().unwrap_or("?").to_owned();
        if !by.contains_key(&name) {
            order.push(name.clone());
        }
        by.entry(name).or_default().push(run);
    }
    let mut out = Map::new();
    for name in order {
        let list = &by[&name];
        let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for run in list {
            let mut f = BTreeMap::new();
            figures(run, "", &mut f);
            for (k, v) in f {
                series.entry(k).or_default().push(v);
            }
        }
        let mut node = Map::new();
        node.insert("runs".into(), json!(list.len()));
        node.insert(
            "complete_runs".into(),
            json!(list.iter().filter(|r| r["complete"] == true).count()),
        );
        for (path, mut values) in series {
            insert(&mut node, &path, stats(&mut values));
        }
        out.insert(name, Value::Object(node));
    }
    Value::Object(out)
}

/// `{first, last, last_over_first}`: every figure of the first and last run and their ratio
/// (null where the first is 0).
pub(crate) fn first_vs_last(runs: &[Value]) -> Value {
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Value::Null;
    };
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    figures(first, "", &mut a);
    figures(last, "", &mut b);
    let mut ratio = Map::new();
    for (path, x) in &a {
        if let Some(y) = b.get(path) {
            let r = if *x == 0.0 {
                Value::Null
            } else {
                json!((y / x * 1000.0).round() / 1000.0)
            };
            insert(&mut ratio, path, r);
        }
    }
    json!({"runs": runs.len(), "first_run": first["run"], "last_run": last["run"], "last_over_first": ratio})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_give_median_min_and_max_of_every_figure_per_scenario() {
        let runs = [
            json!({"scenario": "a", "run": 1, "x": 3.0, "l": {"p50": 1}, "complete": true, "load": {"events": 5}}),
            json!({"scenario": "b", "run": 2, "x": 10}),
            json!({"scenario": "a", "run": 3, "x": 1.0, "l": {"p50": 2}, "complete": true}),
            json!({"scenario": "a", "run": 5, "x": 2.0, "l": {"p50": 9}, "complete": false}),
        ];
        let s = rounds(&runs);
        assert_eq!(s["a"]["runs"], 3);
        assert_eq!(s["a"]["complete_runs"], 2);
        assert_eq!(s["a"]["x"], json!({"median": 2.0, "min": 1.0, "max": 3.0}));
        assert_eq!(s["a"]["l"]["p50"]["median"], 2.0);
        assert!(s["a"].get("run").is_none() && s["a"].get("load").is_none());
        assert_eq!(s["b"]["x"]["median"], 10.0);
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn a_soak_compares_its_last_run_with_its_first() {
        let runs = [
            json!({"scenario": "a", "run": 1, "rate": 100, "zero": 0, "m": {"p99": 10}}),
            json!({"scenario": "a", "run": 2, "rate": 90, "zero": 1, "m": {"p99": 12}}),
        ];
        let s = first_vs_last(&runs);
        assert_eq!(s["last_over_first"]["rate"], 0.9);
        assert_eq!(s["last_over_first"]["m"]["p99"], 1.2);
        assert_eq!(s["last_over_first"]["zero"], Value::Null);
    }
}
