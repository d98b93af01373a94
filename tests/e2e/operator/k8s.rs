//! The Kubernetes manifests (`deploy/k8s/*.yaml`) against the code: configuration keys and
//! values the config loader accepts, subcommands the binary has, the HTTP port it listens on,
//! probe and scrape paths it serves (checked on running services by the dashboard test), the
//! queue fan-out consumes, and selectors, budgets, scalers and policies that fit together.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_yaml::Value;
use sethub_bus::{QueueKind, Topology};
use sethub_config::Config;

use crate::deploy_dir;

/// Every document of every manifest, with the file it came from.
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(deploy_dir().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
            if !value.is_null() {
                docs.push((
                    file.file_name().unwrap().to_string_lossy().into_owned(),
                    value,
                ));
            }
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(_, d)| d)
        .collect()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap()
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// What the Secret the manifests read would hold (its keys as the header comment creates them).
fn secret_value(key: &str) -> String {
    match key {
        "database-url" => "postgres://sethub_app:pw@db:5432/sethub".into(),
        "database-migrate-url" => "postgres://sethub_owner:pw@db:5432/sethub".into(),
        "bus-url" => "amqp://sethub:pw@rabbitmq:5672/sethub".into(),
        "state-url" => "redis://redis:6379".into(),
        "master-keys" => format!("[\"k1:{}\"]", "A".repeat(43) + "="),
        other => panic!("the manifests read an unknown Secret key {other}"),
    }
}

/// The containers of a Deployment or Job, with the role (first argument) each runs.
fn containers(doc: &Value) -> Vec<&Value> {
    doc["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .collect()
}

/// `(role, path)` of every HTTP path the manifests probe or scrape.
pub fn http_paths() -> Vec<(String, String)> {
    let docs = manifests();
    let mut out = BTreeSet::new();
    for d in of_kind(&docs, "Deployment") {
        let scrape = &d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"];
        for c in containers(d) {
            let role = c["args"][0].as_str().unwrap().to_owned();
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                if let Some(path) = c[probe]["httpGet"]["path"].as_str() {
                    out.insert((role.clone(), path.to_owned()));
                }
            }
            if let Some(path) = scrape.as_str() {
                out.insert((role.clone(), path.to_owned()));
            }
        }
    }
    assert!(out.len() >= 9, "{out:?}");
    out.into_iter().collect()
}

#[test]
fn the_manifests_name_only_configuration_keys_commands_and_ports_the_code_defines() {
    let docs = manifests();
    let config_map = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|d| name(d) == "sethub")
        .expect("a ConfigMap `sethub`");
    let shared: BTreeMap<String, String> = labels(&config_map["data"]);
    let mut roles = BTreeSet::new();
    let mut secret_keys = BTreeSet::new();
    let mut workloads = of_kind(&docs, "Deployment");
    workloads.extend(of_kind(&docs, "Job"));
    for w in &workloads {
        for c in containers(w) {
            let role = c["args"][0].as_str().unwrap();
            roles.insert(role.to_owned());
            // The subcommand exists.
            let help = std::process::Command::new(crate::world::BIN)
                .args([role, "--help"])
                .output()
                .unwrap();
            assert!(help.status.success(), "`sethub {role}` is not a command");
            // Every variable is a key the loader knows, with a value it accepts.
            let mut vars = shared.clone();
            if c["envFrom"].as_sequence().is_some() {
                assert_eq!(c["envFrom"][0]["configMapRef"]["name"], "sethub");
            }
            for e in c["env"].as_sequence().into_iter().flatten() {
                let var = e["name"].as_str().unwrap().to_owned();
                let value = match e["value"].as_str() {
                    Some(v) => v.to_owned(),
                    None => {
                        let key = e["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
                        assert_eq!(e["valueFrom"]["secretKeyRef"]["name"], "sethub");
                        secret_keys.insert(key.to_owned());
                        secret_value(key)
                    }
                };
                vars.insert(var, value);
            }
            assert!(
                vars.keys().all(|k| k.starts_with("SETHUB_")),
                "{}: a variable sethub does not read: {:?}",
                name(w),
                vars.keys()
            );
            let config = Config::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap_or_else(|e| panic!("{} ({role}): {e}", name(w)));
            // The container port is the one sethub listens on.
            if w["kind"] == "Deployment" {
                let port: u16 = config
                    .server
                    .listen
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let http = c["ports"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == "http")
                    .expect("a port named http");
                assert_eq!(http["containerPort"].as_u64(), Some(u64::from(port)));
                assert_eq!(w["metadata"]["labels"]["service"].as_str(), Some(role));
                let requests = &c["resources"]["requests"];
                assert!(
                    requests["cpu"].is_string() && requests["memory"].is_string(),
                    "{role}: resource requests"
                );
                assert!(
                    c["resources"]["limits"]["memory"].is_string(),
                    "{role}: memory limit"
                );
            }
            // The production backends: PostgreSQL, RabbitMQ, Redis.
            let backends = config.backends();
            assert!(
                backends.postgres && backends.rabbitmq && backends.redis,
                "{role}"
            );
        }
    }
    assert_eq!(
        roles,
        BTreeSet::from(["fanout", "ingest", "manage", "migrate"].map(str::to_owned))
    );
    // KEDA reads the bus URL from a key the services read too.
    for auth in of_kind(&docs, "TriggerAuthentication") {
        for r in auth["spec"]["secretTargetRef"].as_sequence().unwrap() {
            assert!(secret_keys.contains(r["key"].as_str().unwrap()), "{r:?}");
        }
    }
    // The migration runs after the ConfigMap it reads and before the services (sync waves).
    let wave = |d: &Value| -> i64 {
        d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .map_or(0, |w| w.parse().unwrap())
    };
    let job = of_kind(&docs, "Job")[0];
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "migrate"
    );
    assert!(wave(config_map) < wave(job));
    for d in of_kind(&docs, "Deployment") {
        assert!(
            wave(job) < wave(d),
            "{} rolls out before the migration",
            name(d)
        );
    }
}

#[test]
fn budgets_scalers_services_and_routes_select_the_deployments_and_the_queue_fanout_consumes() {
    let docs = manifests();
    let deployments: BTreeMap<&str, BTreeMap<String, String>> = of_kind(&docs, "Deployment")
        .into_iter()
        .map(|d| {
            let pod = labels(&d["spec"]["template"]["metadata"]["labels"]);
            assert!(selects(
                &labels(&d["spec"]["selector"]["matchLabels"]),
                &pod
            ));
            (name(d), pod)
        })
        .collect();
    let matching = |selector: &Value| -> Vec<&str> {
        let selector = labels(selector);
        deployments
            .iter()
            .filter(|(_, pod)| selects(&selector, pod))
            .map(|(n, _)| *n)
            .collect()
    };
    // Every Deployment has one PodDisruptionBudget and one Service.
    for (kind, path) in [("PodDisruptionBudget", "matchLabels"), ("Service", "")] {
        let mut covered = BTreeSet::new();
        for d in of_kind(&docs, kind) {
            let selector = if path.is_empty() {
                &d["spec"]["selector"]
            } else {
                &d["spec"]["selector"][path]
            };
            let m = matching(selector);
            assert_eq!(m.len(), 1, "{kind} {} selects {m:?}", name(d));
            assert!(covered.insert(m[0]), "two {kind}s for {}", m[0]);
        }
        assert_eq!(
            covered.len(),
            deployments.len(),
            "a Deployment without a {kind}"
        );
    }
    // HPAs for ingest and manage; KEDA (not an HPA) for fan-out.
    let hpa: BTreeSet<&str> = of_kind(&docs, "HorizontalPodAutoscaler")
        .into_iter()
        .map(|d| d["spec"]["scaleTargetRef"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(hpa, BTreeSet::from(["sethub-ingest", "sethub-manage"]));
    let config_map = of_kind(&docs, "ConfigMap")[0];
    let config = Config::from_vars(
        labels(&config_map["data"])
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let topology =
        Topology::new(config.bus.prefix.clone()).with_event_shards(config.bus.event_shards);
    let scaled = of_kind(&docs, "ScaledObject");
    assert_eq!(scaled.len(), 1);
    assert_eq!(scaled[0]["spec"]["scaleTargetRef"]["name"], "sethub-fanout");
    // One trigger per event shard's queue, every one of them, nothing else.
    let triggers = scaled[0]["spec"]["triggers"].as_sequence().unwrap();
    assert!(triggers.iter().all(|t| t["type"] == "rabbitmq"));
    let watched: Vec<&str> = triggers
        .iter()
        .map(|t| t["metadata"]["queueName"].as_str().unwrap())
        .collect();
    assert_eq!(
        watched,
        topology.event_queues(),
        "KEDA watches every event shard"
    );
    // Routing (an Ingress or a Gateway API HTTPRoute) sends only to Services that exist.
    let services: BTreeSet<&str> = of_kind(&docs, "Service").into_iter().map(name).collect();
    let mut routed = 0;
    for (_, d) in &docs {
        let mut backends = Vec::new();
        collect_backends(d, &mut backends);
        for b in backends {
            assert!(
                services.contains(b.as_str()),
                "a route to a missing Service {b}"
            );
            routed += 1;
        }
    }
    assert!(routed >= 3, "no route reaches the services");
    // A three-node RabbitMQ whose permissions cover the prefix's exchanges and queues.
    let rabbit = of_kind(&docs, "RabbitmqCluster");
    assert_eq!(rabbit[0]["spec"]["replicas"].as_u64(), Some(3));
    let permission = of_kind(&docs, "Permission")[0];
    let pattern = format!("^{}\\.", config.bus.prefix);
    for right in ["configure", "write", "read"] {
        assert_eq!(
            permission["spec"]["permissions"][right].as_str(),
            Some(pattern.as_str())
        );
    }
    for q in [topology.queue(QueueKind::Events), topology.dead_queue()] {
        assert!(q.starts_with(&format!("{}.", config.bus.prefix)), "{q}");
    }
}

/// Service names an Ingress (`backend.service.name`) or HTTPRoute (`backendRefs[].name`)
/// routes to.
fn collect_backends(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                match k.as_str() {
                    Some("backend") => {
                        if let Some(n) = child["service"]["name"].as_str() {
                            out.push(n.to_owned());
                        }
                    }
                    Some("backendRefs") => {
                        for r in child.as_sequence().into_iter().flatten() {
                            out.push(r["name"].as_str().unwrap().to_owned());
                        }
                    }
                    _ => collect_backends(child, out),
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|c| collect_backends(c, out)),
        _ => {}
    }
}

#[test]
fn network_policies_let_the_services_reach_only_their_backends_and_fanout_the_internet() {
    let docs = manifests();
    let policies = of_kind(&docs, "NetworkPolicy");
    let deny = policies
        .iter()
        .find(|p| name(p) == "sethub-default-deny")
        .expect("a default-deny policy");
    assert_eq!(
        labels(&deny["spec"]["podSelector"]["matchLabels"]),
        BTreeMap::from([("app".to_owned(), "sethub".to_owned())])
    );
    assert!(deny["spec"]["ingress"].is_null() && deny["spec"]["egress"].is_null());
    // The backends' ports are those of the URL schemes the config accepts.
    let backends = policies
        .iter()
        .find(|p| name(p) == "sethub-backends-out")
        .unwrap();
    let ports: BTreeSet<u64> = backends["spec"]["egress"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|r| r["ports"].as_sequence().unwrap().iter())
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert_eq!(ports, BTreeSet::from([53, 5432, 5672, 6379]));
    for url in ["database-url", "bus-url", "state-url"].map(secret_value) {
        let port = url::Url::parse(&url).unwrap().port().unwrap();
        assert!(ports.contains(&u64::from(port)), "{url}");
    }
    // Only the policies that say so open the internet (443, private ranges excepted), and
    // fan-out's is for fan-out alone.
    for p in &policies {
        let internet = p["spec"]["egress"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|r| r["to"].as_sequence().into_iter().flatten())
            .any(|t| t["ipBlock"]["cidr"] == "0.0.0.0/0");
        match name(p) {
            "sethub-fanout-internet-out" => {
                assert!(internet);
                assert_eq!(p["spec"]["podSelector"]["matchLabels"]["service"], "fanout");
                assert_eq!(
                    p["spec"]["egress"][0]["ports"][0]["port"].as_u64(),
                    Some(443)
                );
                let except = p["spec"]["egress"][0]["to"][0]["ipBlock"]["except"]
                    .as_sequence()
                    .unwrap();
                assert!(except.iter().any(|c| c == "10.0.0.0/8"));
            }
            "sethub-fetch-internet-out" => {
                let values = p["spec"]["podSelector"]["matchExpressions"][0]["values"]
                    .as_sequence()
                    .unwrap();
                assert!(!values.iter().any(|v| v == "fanout"));
            }
            other => assert!(!internet, "{other} opens the internet"),
        }
    }
}
