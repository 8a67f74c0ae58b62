//! Creates that may have happened. Vultr creates have no idempotency key: after an answer that
//! does not say whether a create was applied (a 5xx, a broken connection, a lost answer) the
//! object is looked up, and created again only if it is not there. No create is ever sent twice
//! blindly, so an ambiguous answer never makes a second billed instance.

use anyhow::{anyhow, Result};

use super::client::{ApiError, Progress};

/// Attempts at most to create one object.
pub const CREATE_ATTEMPTS: u32 = 4;

/// Creates `what` with `create`; after an ambiguous failure, returns what `find` finds, or
/// tries again while attempts remain. Any other failure is returned at once.
pub fn create_checked<T>(
    progress: &Progress,
    what: &str,
    create: impl Fn() -> Result<T, ApiError>,
    find: impl Fn() -> Result<Option<T>>,
) -> Result<T> {
    let mut attempt = 1;
    loop {
        let error = match create() {
            Ok(created) => return Ok(created),
            Err(error) if error.is_ambiguous() => error,
            Err(error) => return Err(error.into()),
        };
        progress.say(&format!(
            "{what}: no clear answer to the create ({error}); looking it up before creating \
             it again"
        ));
        match find() {
            Ok(Some(found)) => {
                progress.say(&format!("{what}: it was created after all"));
                return Ok(found);
            }
            Ok(None) if attempt < CREATE_ATTEMPTS => attempt += 1,
            Ok(None) => {
                return Err(anyhow!(error).context(format!(
                    "{what}: {CREATE_ATTEMPTS} creates failed and none was applied; run the \
                     command again (it looks before it creates)"
                )))
            }
            Err(lookup) => {
                return Err(lookup.context(format!(
                    "{what}: after an unclear answer to its create ({error}), it could not be \
                     looked up; run the command again (it looks before it creates, and \
                     `testbed destroy` deletes whatever was created)"
                )))
            }
        }
    }
}
