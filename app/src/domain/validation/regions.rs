//! `regions`: each named once, with a weight of at least 1. Whether a runtime serves each
//! region is Baton's configuration, checked by the scheduler service.

use std::collections::HashSet;

use super::Errors;
use super::names::is_game_name;
use crate::domain::scheduler::SchedulerConfig;

pub(super) fn validate_regions(config: &SchedulerConfig, errors: &mut Errors) {
    let mut seen = HashSet::new();
    for (i, region) in config.regions.iter().enumerate() {
        if !is_game_name(&region.name) {
            errors.add(
                format!("regions[{i}].name"),
                "must be 1-63 letters, digits, '-', '_' or '.'",
            );
        } else if !seen.insert(region.name.as_str()) {
            errors.add(
                format!("regions[{i}].name"),
                format!("{} is listed twice", region.name),
            );
        }
        errors.check(
            region.weight >= 1,
            format!("regions[{i}].weight"),
            "must be 1 or more",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::region::SchedulerRegion;
    use crate::domain::validation::test_support::valid;

    fn fields(regions: Vec<SchedulerRegion>) -> Vec<String> {
        let mut config = valid();
        config.regions = regions;
        config
            .validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn regions_are_named_once_with_a_weight_of_one_or_more() {
        assert!(fields(vec![SchedulerRegion::new("eu-west", 2)]).is_empty());
        assert_eq!(
            fields(vec![
                SchedulerRegion::new("eu", 1),
                SchedulerRegion::new("eu", 1),
                SchedulerRegion::new("us", 0),
                SchedulerRegion::new("", 1),
            ]),
            vec!["regions[1].name", "regions[2].weight", "regions[3].name"]
        );
    }
}
