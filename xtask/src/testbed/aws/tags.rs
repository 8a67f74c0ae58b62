//! The tags that mark a testbed's AWS resources.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

/// Tag key whose value is the settings' `testbed_id`: how instances are found again.
pub const TESTBED: &str = "consensus-bench:testbed";
/// Tag key naming what an instance does in the testbed.
pub const ROLE: &str = "consensus-bench:role";
/// The role of every instance: it runs a validator (and its load generator).
pub const ROLE_NODE: &str = "node";

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
