//! docs/formats.md against the Rust types that read each format: every example parses (the
//! types refuse unknown fields), the written formats serialise back to their example, and the
//! layer entry table is what sematic-layer accepts.

use std::collections::BTreeMap;

use sematic_image::settings::Settings;
use sematic_launch::config::LaunchConfig;
use sematic_layer::manifest::Manifest;
use sematic_layer::piece::PieceDescriptor;
use sematic_oci_core::layer_descriptor::LayerDescriptor;
use sematic_oci_core::native_report::NativeReport;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

const DOC: &str = include_str!("../../../../docs/formats.md");

/// `format: NAME` -> the JSON block after it.
fn examples() -> BTreeMap<&'static str, &'static str> {
    let mut examples = BTreeMap::new();
    for part in DOC.split("<!-- format: ").skip(1) {
        let (name, rest) = part.split_once(" -->").expect("a closed format comment");
        let block = rest
            .trim_start()
            .strip_prefix("```json\n")
            .unwrap_or_else(|| panic!("format {name}: no ```json block after the comment"));
        let (json, _) = block.split_once("\n```").expect("a closed block");
        assert!(examples.insert(name, json).is_none(), "format {name} twice");
    }
    examples
}

fn parse<T: DeserializeOwned>(name: &str, text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("format {name}: {err}"))
}

/// A format a tool writes: its example is what the type writes, field for field.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str, text: &str) {
    let value: T = parse(name, text);
    let expected: Value = parse(name, text);
    assert_eq!(
        serde_json::to_value(value).unwrap(),
        expected,
        "format {name}"
    );
}

#[test]
fn every_example_is_read_by_its_type() {
    let examples = examples();
    let names: Vec<&str> = examples.keys().copied().collect();
    assert_eq!(
        names,
        [
            "image-settings",
            "launch-config",
            "layer-descriptor",
            "layer-descriptor-estargz",
            "layer-manifest",
            "native-report",
            "piece-descriptor"
        ],
        "a format was added to or removed from docs/formats.md: test it here"
    );
    for (name, text) in examples {
        match name {
            "image-settings" => drop(parse::<Settings>(name, text)),
            "launch-config" => drop(parse::<LaunchConfig>(name, text)),
            "layer-descriptor" | "layer-descriptor-estargz" => {
                round_trip::<LayerDescriptor>(name, text)
            }
            "layer-manifest" => {
                let manifest = Manifest::parse(text).unwrap_or_else(|err| panic!("{name}: {err}"));
                let kinds: Vec<Value> = parse::<Value>(name, text)["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|entry| entry["kind"].clone())
                    .collect();
                assert_eq!(manifest.entries.len(), kinds.len());
                assert_eq!(
                    kinds.len(),
                    entry_table().len(),
                    "one example entry per kind"
                );
            }
            "native-report" => round_trip::<NativeReport>(name, text),
            "piece-descriptor" => round_trip::<PieceDescriptor>(name, text),
            other => unreachable!("{other}"),
        }
    }
}

/// The kinds table: kind -> the fields it takes besides `kind` and `path`.
fn entry_table() -> BTreeMap<&'static str, Vec<&'static str>> {
    let (_, table) = DOC
        .split_once("<!-- layer-entry-kinds -->")
        .expect("the layer entry table");
    table
        .lines()
        .skip(3) // the comment's line end, the header and the rule
        .map_while(|line| line.strip_prefix("| `"))
        .map(|row| {
            let (kind, fields) = row.split_once("` |").unwrap();
            let fields = fields.trim_end_matches('|').split(',');
            let fields = fields
                .map(|f| f.trim().trim_matches('`'))
                .filter(|f| !f.is_empty());
            (kind, fields.collect())
        })
        .collect()
}

#[test]
fn the_layer_entry_table_is_what_sematic_layer_accepts() {
    let table = entry_table();
    assert_eq!(table.len(), 6, "{table:?}");
    let value = |field: &str| match field {
        "mode" => json!("0755"),
        _ => json!("x/y"),
    };
    for (kind, fields) in &table {
        let entry = |extra: &[&str]| {
            let mut entry = json!({"kind": kind, "path": "/a"});
            for field in fields.iter().chain(extra) {
                entry[*field] = value(field);
            }
            Manifest::parse(&json!({ "entries": [entry] }).to_string())
        };
        entry(&[]).unwrap_or_else(|err| panic!("{kind} with {fields:?}: {err}"));
        for other in ["src", "target", "mode"] {
            if !fields.contains(&other) {
                let err = entry(&[other]).expect_err(&format!("{kind} with {other}"));
                assert!(err.to_string().contains("takes no"), "{kind}: {err}");
            }
        }
    }
}
