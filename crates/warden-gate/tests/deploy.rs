//! The deployment files under `examples/gate/` for what has no binary on
//! these machines (Traefik, Envoy, Istio, Docker, Kubernetes): validated
//! statically. Each is parsed and checked against the field names it uses
//! and against the gate's own defaults (ports, routes, header names); the
//! gate configuration inside the Kubernetes ConfigMap is parsed by the
//! gate itself. nginx and Caddy run for real in `proxies.rs`.

use warden_gate::GateConfig;
use warden_gate::config::{DEFAULT_GRPC_BIND, DEFAULT_HTTP_BIND, Identity};
use yaml_rust2::{Yaml, YamlLoader};

fn read(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../examples/gate/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn yaml(name: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The steps of `path`: keys split at `.`, a key in `[...]` taken whole.
fn steps(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').expect("a closing ]");
            out.push(&r[..end]);
            rest = r[end + 1..].trim_start_matches('.');
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = rest[end..].trim_start_matches('.');
        }
    }
    out
}

/// Follows `path` (keys, `[key.with.dots]`, or `#n` for a list index);
/// panics naming the step.
fn at<'a>(doc: &'a Yaml, path: &str) -> &'a Yaml {
    let mut cur = doc;
    for step in steps(path) {
        let next = match step.strip_prefix('#') {
            Some(i) => &cur[i.parse::<usize>().unwrap()],
            None => &cur[step],
        };
        assert!(!next.is_badvalue(), "no `{step}` in `{path}`");
        cur = next;
    }
    cur
}

/// The items of the list at `path`.
fn list<'a>(doc: &'a Yaml, path: &str) -> &'a [Yaml] {
    at(doc, path)
        .as_vec()
        .unwrap_or_else(|| panic!("`{path}` is not a list"))
}

/// The strings of the list at `path`.
fn strings<'a>(doc: &'a Yaml, path: &str) -> Vec<&'a str> {
    list(doc, path)
        .iter()
        .map(|y| y.as_str().unwrap())
        .collect()
}

fn port(bind: &str) -> i64 {
    bind.rsplit(':').next().unwrap().parse().unwrap()
}

fn identity_headers() -> Vec<String> {
    Identity::default()
        .names()
        .map(|n| n.as_str().to_owned())
        .collect()
}

#[test]
fn envoy_calls_the_gate_over_grpc_and_fails_closed() {
    let doc = &yaml("envoy.yaml")[0];
    let hcm = at(
        doc,
        "static_resources.listeners.#0.filter_chains.#0.filters.#0",
    );
    assert_eq!(
        at(hcm, "name").as_str(),
        Some("envoy.filters.network.http_connection_manager")
    );
    let filters = list(hcm, "typed_config.http_filters");
    let authz = &filters[0];
    assert_eq!(
        at(authz, "name").as_str(),
        Some("envoy.filters.http.ext_authz")
    );
    assert_eq!(
        at(authz, "typed_config.@type").as_str(),
        Some("type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz")
    );
    assert_eq!(
        at(authz, "typed_config.transport_api_version").as_str(),
        Some("V3")
    );
    assert_eq!(
        at(authz, "typed_config.failure_mode_allow").as_bool(),
        Some(false)
    );
    let cluster_name = at(authz, "typed_config.grpc_service.envoy_grpc.cluster_name")
        .as_str()
        .unwrap();
    assert_eq!(
        at(filters.last().unwrap(), "name").as_str(),
        Some("envoy.filters.http.router"),
        "the router filter comes last"
    );
    assert_eq!(
        at(hcm, "typed_config.path_with_escaped_slashes_action").as_str(),
        Some("REJECT_REQUEST")
    );
    let cluster = list(doc, "static_resources.clusters")
        .iter()
        .find(|c| c["name"].as_str() == Some(cluster_name))
        .expect("the ext_authz cluster is defined");
    // gRPC needs HTTP/2 to the gate.
    at(
        cluster,
        "typed_extension_protocol_options.[envoy.extensions.upstreams.http.v3.HttpProtocolOptions].explicit_http_config.http2_protocol_options",
    );
    let addr = at(
        cluster,
        "load_assignment.endpoints.#0.lb_endpoints.#0.endpoint.address.socket_address",
    );
    assert_eq!(
        at(addr, "port_value").as_i64(),
        Some(port(DEFAULT_GRPC_BIND))
    );
}

#[test]
fn istio_registers_the_provider_and_a_custom_policy_uses_it() {
    let docs = yaml("istio.yaml");
    assert_eq!(docs.len(), 2);
    let provider = at(&docs[0], "spec.meshConfig.extensionProviders.#0");
    let name = at(provider, "name").as_str().unwrap();
    assert_eq!(
        at(provider, "envoyExtAuthzGrpc.port").as_i64(),
        Some(port(DEFAULT_GRPC_BIND))
    );
    assert_eq!(
        at(provider, "envoyExtAuthzGrpc.failOpen").as_bool(),
        Some(false)
    );
    at(provider, "envoyExtAuthzGrpc.service");
    let policy = &docs[1];
    assert_eq!(
        at(policy, "apiVersion").as_str(),
        Some("security.istio.io/v1")
    );
    assert_eq!(at(policy, "kind").as_str(), Some("AuthorizationPolicy"));
    assert_eq!(at(policy, "spec.action").as_str(), Some("CUSTOM"));
    assert_eq!(at(policy, "spec.provider.name").as_str(), Some(name));
}

#[test]
fn traefik_strips_then_forwards_to_the_auth_endpoint() {
    let doc = &yaml("traefik-dynamic.yml")[0];
    let fa = at(doc, "http.middlewares.warden.forwardAuth");
    assert_eq!(
        at(fa, "address").as_str(),
        Some(format!("http://{DEFAULT_HTTP_BIND}/auth").as_str())
    );
    assert_eq!(at(fa, "trustForwardHeader").as_bool(), Some(false));
    let copied: Vec<String> = list(fa, "authResponseHeaders")
        .iter()
        .map(|h| h.as_str().unwrap().to_ascii_lowercase())
        .collect();
    let stripped = at(
        doc,
        "http.middlewares.warden-strip.headers.customRequestHeaders",
    );
    for h in identity_headers() {
        assert!(
            copied.contains(&h),
            "{h} is not copied from the gate's answer"
        );
        let blank =
            stripped.as_hash().unwrap().iter().any(|(k, v)| {
                k.as_str().unwrap().eq_ignore_ascii_case(&h) && v.as_str() == Some("")
            });
        assert!(blank, "{h} sent by a client is not removed");
    }
    let mws: Vec<&str> = strings(doc, "http.routers.orders.middlewares");
    assert_eq!(mws, ["warden-strip", "warden"], "strip first, then ask");
}

#[test]
fn kubernetes_runs_the_gate_with_its_own_config() {
    let docs = yaml("kubernetes.yaml");
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| at(d, "kind").as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"]);
    let gate_toml = at(&docs[0], "data.[gate.toml]").as_str().unwrap();
    let config = GateConfig::parse(gate_toml, |_| None).expect("the ConfigMap's gate.toml");
    assert_eq!(config.issuers[0].audiences, ["api://orders"]);
    let c = at(&docs[1], "spec.template.spec.containers.#0");
    assert_eq!(
        at(c, "readinessProbe.httpGet.path").as_str(),
        Some("/healthz")
    );
    at(c, "livenessProbe");
    assert_eq!(
        at(c, "securityContext.allowPrivilegeEscalation").as_bool(),
        Some(false)
    );
    assert_eq!(
        at(&docs[1], "spec.template.spec.securityContext.runAsNonRoot").as_bool(),
        Some(true)
    );
    let ports: Vec<i64> = list(c, "ports")
        .iter()
        .map(|p| at(p, "containerPort").as_i64().unwrap())
        .collect();
    assert_eq!(ports, [port(DEFAULT_HTTP_BIND), port(DEFAULT_GRPC_BIND)]);
    let mount = at(c, "volumeMounts.#0.mountPath").as_str().unwrap();
    let args: Vec<&str> = strings(c, "args");
    assert_eq!(args, ["--config", &format!("{mount}/gate.toml")]);
    assert_eq!(
        at(&docs[1], "spec.template.spec.volumes.#0.configMap.name").as_str(),
        at(&docs[0], "metadata.name").as_str()
    );
    let selector = at(&docs[2], "spec.selector.app").as_str();
    assert_eq!(
        selector,
        at(&docs[1], "spec.template.metadata.labels.app").as_str()
    );
}

#[test]
fn the_dockerfile_is_multi_stage_and_non_root() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].ends_with(" AS build"));
    assert!(froms[1].contains("distroless") || froms[1].contains("slim"));
    let user = lines
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("RUN cargo build --release") && l.contains("-p warden-gate"))
    );
    let expose = lines
        .iter()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .unwrap();
    assert_eq!(
        expose,
        format!("{} {}", port(DEFAULT_HTTP_BIND), port(DEFAULT_GRPC_BIND))
    );
    let entry = lines
        .iter()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .unwrap();
    let entry: Vec<String> = serde_json::from_str(entry).expect("exec form");
    assert!(entry[0].ends_with("/warden-gate") && entry[1] == "--config");
}
