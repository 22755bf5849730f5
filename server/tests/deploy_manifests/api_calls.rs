//! API requests as the authorizer sees them: verb, API group, resource (with its subresource),
//! namespace.

use http::Method;

/// One API call, as RBAC names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiCall {
    pub verb: String,
    pub group: String,
    /// `pods`, or `pods/log` for a subresource.
    pub resource: String,
    /// `None` for cluster-scoped objects and calls across all namespaces.
    pub namespace: Option<String>,
}

impl std::fmt::Display for ApiCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {group}/{}", self.verb, self.resource)?;
        match &self.namespace {
            Some(namespace) => write!(f, " in {namespace}"),
            None => write!(f, " (cluster-wide)"),
        }
    }
}

/// Where a request points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// The target of an API path: `/api/v1/...` (core) or `/apis/GROUP/VERSION/...`, then
/// `[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]`.
pub fn target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, subresource] => (*resource, Some(*name), Some(*subresource)),
        _ => return None,
    };
    Some(Target {
        group: group.to_string(),
        version: version.to_string(),
        namespace: namespace.map(str::to_string),
        resource: resource.to_string(),
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
    })
}

/// The RBAC verb of a request.
pub fn verb(method: &Method, target: &Target, query: &str) -> Option<&'static str> {
    let watch = query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    Some(match (method.as_str(), target.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    })
}

#[test]
fn paths_are_read_as_rbac_names_them() {
    let pods = target("/api/v1/namespaces/arena/pods/r1/log").expect("a path");
    assert_eq!(
        (
            pods.group.as_str(),
            pods.namespace.as_deref(),
            pods.resource.as_str()
        ),
        ("", Some("arena"), "pods")
    );
    assert_eq!(
        (pods.name.as_deref(), pods.subresource.as_deref()),
        (Some("r1"), Some("log"))
    );
    let namespace = target("/api/v1/namespaces/arena").expect("a path");
    assert_eq!(
        (namespace.resource.as_str(), namespace.name.as_deref()),
        ("namespaces", Some("arena"))
    );
    assert_eq!(namespace.namespace, None);
    let metrics = target("/apis/metrics.k8s.io/v1beta1/namespaces/arena/pods").expect("a path");
    assert_eq!(
        (metrics.group.as_str(), metrics.resource.as_str()),
        ("metrics.k8s.io", "pods")
    );
    let all = target("/api/v1/pods").expect("a path");
    assert_eq!(
        verb(&Method::GET, &all, "fieldSelector=x&watch=true"),
        Some("watch")
    );
    assert_eq!(verb(&Method::GET, &all, "labelSelector=a"), Some("list"));
    assert_eq!(verb(&Method::DELETE, &namespace, ""), Some("delete"));
    assert_eq!(verb(&Method::PATCH, &namespace, ""), Some("patch"));
    assert_eq!(target("/version"), None);
}
