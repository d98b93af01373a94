//! The alert rules: valid, and each alert fires on the series that should raise it and stays
//! quiet on those that should not (`deploy/prometheus/rules.test.yml`).

use crate::{deploy_dir, promtool};

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = deploy_dir().join("prometheus");
    let checked = promtool(&dir, &["check", "rules", "rules.yml"]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = promtool(&dir, &["test", "rules", "rules.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert the rules define has a test that expects it to fire.
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("rules.yml")).unwrap()).unwrap();
    let tests = std::fs::read_to_string(dir.join("rules.test.yml")).unwrap();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap();
            assert!(
                tests.contains(&format!(
                    "alertname: {name}\n        exp_alerts:\n          - exp_labels"
                )),
                "no test expects {name} to fire"
            );
        }
    }
}

#[test]
fn the_scrape_configuration_passes_promtool_with_its_rules() {
    let dir = deploy_dir().join("prometheus");
    let text = std::fs::read_to_string(dir.join("prometheus.yml")).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    // Debian's Prometheus is built without Kubernetes discovery: promtool checks the rest of
    // the configuration with each job's pods given as one static target instead.
    let mut jobs = Vec::new();
    for job in config["scrape_configs"].as_sequence_mut().unwrap() {
        let map = job.as_mapping_mut().unwrap();
        let sd = map
            .remove("kubernetes_sd_configs")
            .expect("pods found by Kubernetes");
        assert_eq!(sd[0]["role"], "pod");
        map.insert(
            "static_configs".into(),
            serde_yaml::from_str("[{targets: ['127.0.0.1:8080']}]").unwrap(),
        );
        jobs.push(map["job_name"].as_str().unwrap().to_owned());
    }
    assert_eq!(jobs, ["sethub-ingest", "sethub-fanout", "sethub-manage"]);
    let tmp = std::env::temp_dir().join(format!("sethub-prom-{}", sethub_tests::random_suffix()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(dir.join("rules.yml"), tmp.join("rules.yml")).unwrap();
    std::fs::write(
        tmp.join("prometheus.yml"),
        serde_yaml::to_string(&config).unwrap(),
    )
    .unwrap();
    let out = promtool(&tmp, &["check", "config", "prometheus.yml"]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(out.contains("SUCCESS: 8 rules found"), "{out}");
    // The alert rules tell the services apart by these job names.
    let rules = std::fs::read_to_string(dir.join("rules.yml")).unwrap();
    assert!(rules.contains(r#"job=~"sethub-(ingest|fanout|manage)""#));
}
