//! zeuz's allocation documents: create or update the scheduler of that name through the
//! scheduler use cases, and read it back in zeuz's shape.

use serde_json::Value;

use super::{Change, SchedulerService, ServiceError};
use crate::domain::capacity::zeuz::{AllocationDef, NotMapped, zeuz_path};
use crate::domain::user::User;

/// What applying a document did: the change (with its operation, if any) and what of the
/// document was not used.
pub struct AllocationApplied {
    pub change: Change,
    pub created: bool,
    /// The stored configuration as zeuz's document.
    pub document: Value,
    pub not_mapped: Vec<NotMapped>,
}

/// Validation errors with zeuz's paths for the fields that came from the document, each field
/// once (the unreserved-payload bounds are checked as capacity and as their policy).
fn in_zeuz_words(err: ServiceError) -> ServiceError {
    match err {
        ServiceError::Invalid(errors) => {
            let mut seen = std::collections::HashSet::new();
            ServiceError::Invalid(
                errors
                    .into_iter()
                    .map(|mut e| {
                        e.field = zeuz_path(&e.field);
                        e
                    })
                    .filter(|e| seen.insert(e.field.clone()))
                    .collect(),
            )
        }
        other => other,
    }
}

impl SchedulerService {
    /// Creates the scheduler `def.Name`, or stores the document onto it as its next version:
    /// with the same rights, validation and operations as `create` and `save_version`.
    pub async fn apply_allocation(
        &self,
        user: &User,
        def: &AllocationDef,
    ) -> Result<AllocationApplied, ServiceError> {
        if def.name.trim().is_empty() {
            return Err(ServiceError::invalid("Name", "is required"));
        }
        let current = match self.readable(user, &def.name, None).await {
            Ok(scheduler) => Some(scheduler.config),
            Err(ServiceError::NotFound(_)) => None,
            Err(other) => return Err(other),
        };
        let (config, not_mapped) = def.to_scheduler(current.as_ref());
        let created = current.is_none();
        let document = AllocationDef::document(&config).unwrap_or_default();
        let change = if created {
            self.create(user, config).await
        } else {
            self.save_version(user, &def.name, config).await
        }
        .map_err(in_zeuz_words)?;
        Ok(AllocationApplied {
            change,
            created,
            document,
            not_mapped,
        })
    }

    /// The scheduler `name` as zeuz's document, for those who may read it.
    pub async fn allocation(&self, user: &User, name: &str) -> Result<Value, ServiceError> {
        let scheduler = self.get(user, name, None).await?;
        AllocationDef::document(&scheduler.config).ok_or_else(|| {
            ServiceError::NotFound(format!(
                "scheduler {name} has no capacity section, so it is no allocation"
            ))
        })
    }
}
