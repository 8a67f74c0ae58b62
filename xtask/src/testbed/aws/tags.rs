//! The tags that mark a testbed's AWS resources.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use chrono::{DateTime, SecondsFormat, Utc};

/// Tag key whose value is the settings' `testbed_id`: how instances are found again.
pub const TESTBED: &str = "consensus-bench:testbed";
/// Tag key naming what an instance does in the testbed.
pub const ROLE: &str = "consensus-bench:role";
/// The role of every instance: it runs a validator (and its load generator).
pub const ROLE_NODE: &str = "node";

/// Tag key whose value is when the instance's dead-man switch powers it off (RFC 3339, UTC).
pub const DEADLINE: &str = "consensus-bench:deadline";

/// The deadline tag.
pub fn deadline(when: DateTime<Utc>) -> Tag {
    tag(DEADLINE, &when.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The time of a deadline tag's value (`None` if it is not one).
pub fn parse_deadline(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The testbed tag.
pub fn testbed(testbed_id: &str) -> Tag {
    tag(TESTBED, testbed_id)
}

/// A tag.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// A tag specification of `tags` for resources of type `resource`.
pub fn specification(resource: ResourceType, tags: &[Tag]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(tags.to_vec()))
        .build()
}
