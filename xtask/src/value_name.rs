//! `Display` for the enums whose text is a name: the name clap's `ValueEnum` gives the variant
//! (serde writes the same kebab-case name), so each name is spelled once, by its variant. A
//! leaf: every layer may use it.

/// Implements `Display` as the name clap gives a `ValueEnum` variant (serde writes the same
/// kebab-case name), so a name is spelled once: by the variant.
macro_rules! display_as_value_name {
    ($($ty:ty),+) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match clap::ValueEnum::to_possible_value(self) {
                    Some(value) => f.write_str(value.get_name()),
                    None => Ok(()),
                }
            }
        }
    )+};
}
pub(crate) use display_as_value_name;
