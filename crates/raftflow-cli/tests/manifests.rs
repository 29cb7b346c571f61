//! The Kubernetes manifests, checked statically (there is no cluster to run
//! them on here): the ports, probes, paths and variables of
//! `deploy/kubernetes/raftflow.yaml` against what the node reads. Each
//! pod's environment, with Kubernetes' `$(VAR)` references expanded, must
//! load into a valid node configuration whose addresses and id agree with
//! the initial membership.

use std::collections::BTreeMap;
use std::path::Path;

use raftflow_server::NodeConfig;
use yaml_rust2::{Yaml, YamlLoader};

fn manifests() -> Vec<Yaml> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/raftflow.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    YamlLoader::load_from_str(&text).unwrap()
}

fn of_kind<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn port_of(addr: &str) -> i64 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The container's variables for pod `pod`, `$(VAR)` expanded as the
/// kubelet does (from variables defined before, and the pod's name).
fn pod_env(container: &Yaml, pod: &str) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for var in container["env"].as_vec().unwrap() {
        let name = var["name"].as_str().unwrap().to_string();
        let value = if var["valueFrom"]["fieldRef"]["fieldPath"].as_str() == Some("metadata.name") {
            pod.to_string()
        } else {
            let mut value = var["value"].as_str().expect("a value").to_string();
            for (known, replacement) in env.iter() {
                value = value.replace(&format!("$({known})"), replacement);
            }
            assert!(
                !value.contains("$("),
                "{name} refers to an unknown variable: {value}"
            );
            value
        };
        env.insert(name, value);
    }
    env.insert("HOSTNAME".into(), pod.into());
    env
}

#[test]
fn the_statefulset_runs_nodes_the_server_accepts() {
    let docs = manifests();
    let set = of_kind(&docs, "StatefulSet", "raftflow");
    let spec = &set["spec"];
    assert_eq!(spec["podManagementPolicy"].as_str(), Some("Parallel"));
    let replicas = spec["replicas"].as_i64().unwrap();
    assert_eq!(replicas, 3);
    let peers = of_kind(&docs, "Service", spec["serviceName"].as_str().unwrap());
    assert_eq!(peers["spec"]["clusterIP"].as_str(), Some("None"));
    assert_eq!(
        peers["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true)
    );
    let pdb = of_kind(&docs, "PodDisruptionBudget", "raftflow");
    assert_eq!(pdb["spec"]["maxUnavailable"].as_i64(), Some(1));

    let container = &spec["template"]["spec"]["containers"][0];
    let ports: BTreeMap<&str, i64> = container["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    let probe = |which: &str| &container[which]["httpGet"];
    assert_eq!(
        probe("readinessProbe")["path"].as_str(),
        Some(raftflow_server::http::READYZ_PATH)
    );
    assert_eq!(
        probe("livenessProbe")["path"].as_str(),
        Some(raftflow_server::http::HEALTHZ_PATH)
    );
    let mounts: BTreeMap<&str, &str> = container["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap(),
                m["name"].as_str().unwrap(),
            )
        })
        .collect();
    let known = raftflow_server::config_env::names();
    for ordinal in 0..replicas {
        let pod = format!("raftflow-{ordinal}");
        let env = pod_env(container, &pod);
        for name in env.keys().filter(|n| n.starts_with("RAFTFLOW_")) {
            assert!(
                known.contains(&name.as_str()),
                "the node does not read {name}"
            );
        }
        let config = NodeConfig::load_with_env(None, &|n| env.get(n).cloned())
            .unwrap_or_else(|e| panic!("{pod}: {e}"));
        assert_eq!(
            config.id,
            ordinal as u64 + 1,
            "{pod}'s id is its ordinal + 1"
        );
        assert_eq!(port_of(&config.raft_addr), ports["raft"]);
        assert_eq!(port_of(&config.api_addr), ports["api"]);
        let http = config
            .http_addr
            .as_deref()
            .expect("an HTTP port for the probes");
        assert_eq!(port_of(http), ports["http"]);
        assert_eq!(probe("readinessProbe")["port"].as_str(), Some("http"));
        let scheme = if config.tls.is_some() {
            "HTTPS"
        } else {
            "HTTP"
        };
        assert_eq!(probe("readinessProbe")["scheme"].as_str(), Some(scheme));
        assert!(config.advertised_raft_addr().starts_with(&format!(
            "{pod}.{}",
            peers["metadata"]["name"].as_str().unwrap()
        )));
        let data = config.data_dir.to_str().unwrap();
        let claim = spec["volumeClaimTemplates"][0]["metadata"]["name"]
            .as_str()
            .unwrap();
        assert_eq!(
            mounts.get(data),
            Some(&claim),
            "the data directory is on the claim"
        );
        let tls = config.tls.as_ref().expect("TLS on");
        for file in [&tls.ca_file, &tls.cert_file, &tls.key_file] {
            assert!(
                file.starts_with("/certs"),
                "{} is on the secret's mount",
                file.display()
            );
        }
        assert_eq!(mounts.get("/certs"), Some(&"tls"));
    }
}
