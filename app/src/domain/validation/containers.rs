//! A container: its name, image, environment and resources (its ports are in `ports`).

use std::collections::HashSet;

use super::Errors;
use super::names::{DNS_LABEL_RULE, is_dns_label, is_dns_subdomain, is_env_name, is_secret_key};
use super::ports::validate_ports;
use crate::domain::quantity::parse_quantity;
use crate::domain::scheduler::{Container, EnvironmentSource, EnvironmentVariable, Resources};

pub(super) fn validate_container(
    container: &Container,
    path: &str,
    port_names: &mut HashSet<String>,
    errors: &mut Errors,
) {
    errors.check(
        is_dns_label(&container.name),
        format!("{path}.name"),
        DNS_LABEL_RULE,
    );
    errors.check(
        !container.image.trim().is_empty(),
        format!("{path}.image"),
        "is required",
    );
    errors.check(
        matches!(
            container.image_pull_policy.as_str(),
            "Always" | "Never" | "IfNotPresent"
        ),
        format!("{path}.imagePullPolicy"),
        "must be Always, Never or IfNotPresent",
    );
    let mut env_names = HashSet::new();
    for (j, env) in container.environment.iter().enumerate() {
        let field = format!("{path}.environment[{j}].name");
        if !is_env_name(&env.name) {
            errors.add(field, "must start with a letter, '_', '-' or '.' and hold only letters, digits, '_', '-' or '.'");
        } else if !env_names.insert(env.name.as_str()) {
            errors.add(field, "is set twice");
        }
        if let Some(source) = &env.value_from {
            validate_env_source(env, source, &format!("{path}.environment[{j}]"), errors);
        }
    }
    for (kind, resources) in [
        ("requests", &container.requests),
        ("limits", &container.limits),
    ] {
        if let Some(resources) = resources {
            validate_resources(resources, &format!("{path}.{kind}"), errors);
        }
    }
    if let (Some(requests), Some(limits)) = (&container.requests, &container.limits) {
        for (name, request, limit) in [
            ("memory", &requests.memory, &limits.memory),
            ("cpu", &requests.cpu, &limits.cpu),
        ] {
            if let (Some(request), Some(limit)) = (parse_quantity(request), parse_quantity(limit))
                && request > limit
            {
                errors.add(
                    format!("{path}.requests.{name}"),
                    format!("must not exceed limits.{name}"),
                );
            }
        }
    }
    validate_ports(container, path, port_names, errors);
}

/// `valueFrom` names exactly one source, fully, and excludes a literal value.
fn validate_env_source(
    env: &EnvironmentVariable,
    source: &EnvironmentSource,
    path: &str,
    errors: &mut Errors,
) {
    let field = format!("{path}.valueFrom");
    if !env.value.is_empty() {
        errors.add(
            format!("{path}.value"),
            "cannot be set together with valueFrom",
        );
    }
    match (&source.field_ref, &source.secret_key_ref) {
        (Some(field_ref), None) => errors.check(
            !field_ref.field_path.trim().is_empty(),
            format!("{field}.fieldRef.fieldPath"),
            "is required",
        ),
        (None, Some(secret)) => {
            errors.check(
                is_dns_subdomain(&secret.name),
                format!("{field}.secretKeyRef.name"),
                "must be a Kubernetes name (lowercase letters, digits, '-' and '.')",
            );
            errors.check(
                is_secret_key(&secret.key),
                format!("{field}.secretKeyRef.key"),
                "must be 1-253 letters, digits, '-', '_' or '.'",
            );
        }
        _ => errors.add(field, "must name exactly one of fieldRef and secretKeyRef"),
    }
}

pub(crate) fn validate_resources(resources: &Resources, path: &str, errors: &mut Errors) {
    for (name, value) in [("memory", &resources.memory), ("cpu", &resources.cpu)] {
        if !value.is_empty() {
            errors.check(
                parse_quantity(value).is_some(),
                format!("{path}.{name}"),
                "must be a Kubernetes quantity such as \"100Mi\" or \"100m\"",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fields, valid};

    #[test]
    fn containers_and_ports_must_be_unique_and_present() {
        let mut c = valid();
        c.spec.containers.clear();
        assert_eq!(fields(&c), ["spec.containers"]);
        let mut c = valid();
        let mut second = c.spec.containers[0].clone();
        second.name = "sidecar".into();
        c.spec.containers.push(second);
        assert_eq!(fields(&c), ["spec.containers[1].ports[0].name"]);
    }
}
