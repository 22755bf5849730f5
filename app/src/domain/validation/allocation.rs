//! The scheduler's `allocation` section: a known strategy, a claim TTL within the bounds.

use super::Errors;
use crate::domain::allocation::{
    AllocationPolicy, MAX_TTL_SECONDS, MIN_TTL_SECONDS, Strategy, ttl_seconds,
};

pub(super) fn validate_allocation(policy: &AllocationPolicy, errors: &mut Errors) {
    if let Some(strategy) = &policy.strategy {
        errors.check(
            Strategy::parse(strategy).is_some(),
            "allocation.strategy",
            "must be \"packed\" or \"distributed\"",
        );
    }
    if let Some(ttl) = &policy.claim_ttl {
        errors.check(
            ttl_seconds(ttl).is_some(),
            "allocation.claimTtl",
            format!(
                "must be a whole number of seconds from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS}, such as \"60s\" or \"2m\""
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fields, valid};
    use super::*;

    #[test]
    fn the_allocation_policy_is_checked() {
        let mut config = valid();
        config.allocation = Some(AllocationPolicy {
            strategy: Some("distributed".into()),
            claim_ttl: Some("2m".into()),
        });
        assert_eq!(fields(&config), Vec::<String>::new());
        assert_eq!(
            AllocationPolicy::strategy(config.allocation.as_ref()),
            Strategy::Distributed
        );
        assert_eq!(
            AllocationPolicy::claim_ttl_seconds(config.allocation.as_ref()),
            Some(120)
        );
        for (strategy, ttl) in [("spread", "0s"), ("Packed", "2h"), ("", "1500ms")] {
            config.allocation = Some(AllocationPolicy {
                strategy: Some(strategy.into()),
                claim_ttl: Some(ttl.into()),
            });
            assert_eq!(
                fields(&config),
                ["allocation.strategy", "allocation.claimTtl"],
                "{strategy} {ttl}"
            );
        }
        assert_eq!(AllocationPolicy::strategy(None), Strategy::Packed);
        assert_eq!(AllocationPolicy::claim_ttl_seconds(None), None);
    }
}
