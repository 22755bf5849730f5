//! A runtime of the runtimes file names its cluster by kubeconfig context.

use crate::adapters::runtime::kubernetes::client_config;

const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: kind-eu
clusters:
- name: eu
  cluster: {server: "https://eu.example:6443", insecure-skip-tls-verify: true}
- name: us
  cluster: {server: "https://us.example:6443", insecure-skip-tls-verify: true}
users:
- name: someone
  user: {token: abc}
contexts:
- name: kind-eu
  context: {cluster: eu, user: someone, namespace: default}
- name: kind-us
  context: {cluster: us, user: someone, namespace: default}
"#;

#[tokio::test]
async fn the_context_names_the_cluster_the_client_talks_to() {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(KUBECONFIG).unwrap();
    let us = client_config(kubeconfig.clone(), "kind-us").await.unwrap();
    assert_eq!(us.cluster_url.to_string(), "https://us.example:6443/");
    assert!(!us.default_retry);
    let eu = client_config(kubeconfig.clone(), "kind-eu").await.unwrap();
    assert_eq!(eu.cluster_url.to_string(), "https://eu.example:6443/");
    let unknown = client_config(kubeconfig, "kind-mars").await.unwrap_err();
    assert!(unknown.to_string().contains("kind-mars"), "{unknown}");
}
