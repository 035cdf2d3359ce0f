//! Canonical JSON: the one serialisation every manifest, config and index we write goes
//! through, so equal content always has equal bytes (and therefore equal digests).

use crate::error::{Context, Result};
use serde::Serialize;

/// Serialises `value` compactly with object keys sorted at every level.
///
/// Going through `serde_json::Value` sorts keys because its map is a `BTreeMap` (the workspace
/// never enables serde_json's `preserve_order`); that also neutralises the `HashMap`s inside
/// oci-spec's types, whose iteration order changes from run to run.
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let tree = serde_json::to_value(value).context("converting to JSON")?;
    serde_json::to_vec(&tree).context("serialising JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn keys_are_sorted_at_every_level_whatever_the_insertion_order() {
        let mut inner = HashMap::new();
        for key in ["zeta", "alpha", "mid", "beta", "omega", "kappa"] {
            inner.insert(key, 1);
        }
        let mut outer = HashMap::new();
        outer.insert("z", inner.clone());
        outer.insert("a", inner);
        let text = String::from_utf8(to_canonical_json(&outer).unwrap()).unwrap();
        let expected_inner = r#"{"alpha":1,"beta":1,"kappa":1,"mid":1,"omega":1,"zeta":1}"#;
        assert_eq!(
            text,
            format!(r#"{{"a":{expected_inner},"z":{expected_inner}}}"#)
        );
    }
}
