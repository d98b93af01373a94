//! The metric names a PromQL expression reads, and the expressions of the rules and the
//! dashboard (Grafana's variables replaced by values Prometheus accepts).

use std::collections::BTreeSet;

use crate::deploy_dir;

/// Words that are PromQL syntax, not metric names.
const KEYWORDS: [&str; 11] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
];

/// Aggregation operators: they may be followed by `by (…)` or `without (…)` before their
/// parenthesis, so they are not always followed by `(` as functions are.
const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The metric names `expr` selects: identifiers outside label matchers, ranges and strings
/// that are not functions, aggregations, keywords or the label lists of `by (…)` and the like.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_group = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    if chars[i] == '"' {
                        i += 1;
                        while i < chars.len() && chars[i] != '"' {
                            i += if chars[i] == '\\' { 2 } else { 1 };
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_group => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                skip_group = false;
                i += 1;
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if matches!(
                    word.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    skip_group = true;
                } else if KEYWORDS.contains(&word.as_str())
                    || AGGREGATIONS.contains(&word.as_str())
                    || next == Some(&'(')
                    || word.eq_ignore_ascii_case("inf")
                    || word.eq_ignore_ascii_case("nan")
                {
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Grafana's variables as Prometheus would see them after substitution.
pub fn substitute_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$job", "sethub-.*")
}

/// Every `expr` of the alert rules.
pub fn rule_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(deploy_dir().join("prometheus/rules.yml")).unwrap();
    let rules: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .map(|r| r["expr"].as_str().unwrap().to_owned())
        .collect()
}

/// Every panel query of the dashboard, `(panel title, expression)`, variables substituted.
pub fn dashboard_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy_dir().join("grafana/sethub.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            out.push((
                panel["title"].as_str().unwrap().to_owned(),
                substitute_grafana_variables(expr),
            ));
        }
    }
    out
}

#[test]
fn metric_names_are_read_from_selectors_and_not_from_functions_labels_or_keywords() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, queue) (rate(sethub_bus_lag_seconds_bucket{job=~"a|b", x="}"}[5m])))
           > max(sethub_push_dead_letters offset 30m) and on (job) up == 0 or vector(1) > Inf
           or max without (instance) (sethub_backend_up) or topk by (job) (3, sethub_poll_backlog)"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "sethub_backend_up",
            "sethub_bus_lag_seconds_bucket",
            "sethub_poll_backlog",
            "sethub_push_dead_letters",
            "up"
        ]
    );
}
