//! Unit tests of the manifest reader.
use super::*;

#[test]
fn document_lines() {
    let d = documents("a: 1\n---\nb: 2\n\n---\nc: 3\n");
    assert_eq!(d.len(), 3);
    assert_eq!(d[1].0, 2);
    assert_eq!(d[2].0, 5);
}
