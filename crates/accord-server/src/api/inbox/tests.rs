use super::*;

#[test]
fn inbox_cursors() {
    assert_eq!(inbox_cursor_from_proto("after_cursor", ""), Ok(None));
    assert_eq!(inbox_cursor_from_proto("after_cursor", "42"), Ok(Some(42)));
    assert!(inbox_cursor_from_proto("after_cursor", "x").is_err());
}
