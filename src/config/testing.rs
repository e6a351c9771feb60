//! The test helper of the directive tables: load a Corefile text, take one directive's config.
use std::path::Path;

use super::directives::Plugin;
use super::load_str;
use super::syntax::ConfigError;

/// Loads `text` as a file named `Corefile` (port 53 for keys that name none) and returns what
/// `pick` takes from the first server block's first directive it accepts.
///
/// A Corefile that does not load gives its error; one that loads without the directive panics.
pub(crate) fn first_directive<T>(
    text: &str,
    pick: impl Fn(&Plugin) -> Option<T>,
) -> Result<T, ConfigError> {
    first_directive_at(Path::new("Corefile"), text, pick)
}

/// [`first_directive`] for a Corefile at `path` (relative paths in it resolve against its
/// directory, and errors name it).
pub(crate) fn first_directive_at<T>(
    path: &Path,
    text: &str,
    pick: impl Fn(&Plugin) -> Option<T>,
) -> Result<T, ConfigError> {
    let c = load_str(text, path, 53)?;
    Ok(c.blocks[0]
        .plugins
        .iter()
        .find_map(pick)
        .expect("the directive under test in the first server block"))
}
