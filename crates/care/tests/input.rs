//! The input checks (`careledger_care::input`): no object in a payload names a key twice.

use careledger_care::input::{unique_keys, KeyError};

fn check(json: &str) -> Result<(), String> {
    unique_keys(&mut serde_json::Deserializer::from_str(json)).map_err(|e| e.to_string())
}

#[test]
fn a_key_given_twice_is_refused_naming_it_and_its_path() {
    let e =
        check(r#"{"kind":"diary.note","payload":{"author":"Staff","text":"fell","text":"fine"}}"#)
            .unwrap_err();
    // The whole message, with no reader's "at line 1 column N" after it.
    assert_eq!(e, "payload.text is given twice; give each key once");

    // At the top level, and deep inside lists.
    let e = check(r#"{"a":1,"b":2,"a":3}"#).unwrap_err();
    assert!(e.starts_with("a is given twice"), "{e}");
    let e = check(r#"{"payload":{"needs":[{"x":1},{"y":1,"y":2}]}}"#).unwrap_err();
    assert!(e.contains("payload.needs[1].y is given twice"), "{e}");
}

#[test]
fn equal_keys_in_different_objects_and_any_json_value_are_accepted() {
    for ok in [
        r#"{"a":{"text":"x"},"b":{"text":"y"}}"#,
        r#"[{"k":1},{"k":2}]"#,
        r#"{"n":-1,"u":18446744073709551615,"f":1.5,"t":true,"z":null,"s":"\u0041","l":[]}"#,
        r#"{}"#,
        r#""just a string""#,
    ] {
        assert_eq!(check(ok), Ok(()), "{ok}");
    }
    // Keys differing only by an escape are the same key once read.
    assert!(check(r#"{"text":1,"t\u0065xt":2}"#).is_err());
}

#[test]
fn malformed_json_is_still_a_syntax_error() {
    match unique_keys(&mut serde_json::Deserializer::from_str(r#"{"a":"#)) {
        Err(KeyError::Input(e)) => assert!(e.is_eof(), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_refusal_carries_the_path_apart_from_its_words() {
    let e = unique_keys(&mut serde_json::Deserializer::from_str(
        r#"{"payload":{"items":[{"dose":"1"},{"dose":"1","dose":"2"}]}}"#,
    ))
    .unwrap_err();
    match e {
        KeyError::Twice { path } => assert_eq!(path, "payload.items[1].dose"),
        other => panic!("{other:?}"),
    }
}
