use serde_json::json;

use super::*;
use crate::model::deploy_rules::FILE_NAME;

const DEFAULTS: SpecDefaults = SpecDefaults {
    backend: Backend::Docker,
    mode: Mode::Service,
    max_code_bytes: 1024,
};

fn deploy(body: Value) -> CallbackSpec {
    match parse_deploy(&body, DEFAULTS) {
        Ok(DeployAction::Deploy(spec)) => *spec,
        other => panic!("expected a deploy, got {other:?}"),
    }
}

fn field_errors(body: Value) -> FieldErrors {
    match parse_deploy(&body, DEFAULTS) {
        Err(SpecError::Fields(f)) => f,
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[test]
fn code_becomes_the_runtime_handler_file_and_defaults_apply() {
    let spec = deploy(json!({"path": "hello", "runtime": "node", "code": "x"}));
    assert_eq!(spec.files, Files::from([("handler.js".into(), "x".into())]));
    assert_eq!(spec.handler, "handler.handle");
    assert_eq!(spec.concurrency, 64);
    assert_eq!(spec.memory_mb, 256);
    assert_eq!((spec.min_instances, spec.max_instances), (0, 4));
    assert_eq!(spec.idle_timeout_s, 300);
    assert_eq!(spec.mode, Mode::Service);
}

#[test]
fn code_and_the_equivalent_files_give_equal_specs() {
    let a = deploy(json!({"path": "a", "runtime": "python", "code": "x"}));
    let b = deploy(json!({"path": "a", "runtime": "python", "files": {"handler.py": "x"}}));
    assert_eq!(a, b);
    assert_eq!(a.code_sha256(), b.code_sha256());
}

#[test]
fn code_sha256_changes_with_any_file() {
    let a =
        deploy(json!({"path": "a", "runtime": "python", "files": {"handler.py": "x", "b": "cd"}}));
    let b =
        deploy(json!({"path": "a", "runtime": "python", "files": {"handler.py": "x", "bc": "d"}}));
    assert_ne!(a.code_sha256(), b.code_sha256());
}

#[test]
fn a_body_that_is_not_an_object_is_refused_whole() {
    assert_eq!(
        parse_deploy(&json!([1]), DEFAULTS),
        Err(SpecError::NotAnObject)
    );
}

#[test]
fn each_wrong_field_is_named() {
    let errors = field_errors(json!({
        "path": "Bad_Name", "runtime": "ruby", "code": "x", "memory_mb": 8, "cpu": "lots",
        "timeout_ms": 0, "concurrency": 1001, "max_instances": 0, "idle_timeout_s": 86401,
        "env": {"FAAS_X": "1", "1BAD": "2", "OK": 3}, "colour": "blue", "handler": "nodots",
        "mode": "batch", "backend": "lambda"
    }));
    for field in [
        "path",
        "runtime",
        "memory_mb",
        "cpu",
        "timeout_ms",
        "concurrency",
        "max_instances",
        "idle_timeout_s",
        "env.FAAS_X",
        "env.1BAD",
        "env.OK",
        "colour",
        "handler",
        "mode",
        "backend",
    ] {
        assert!(
            errors.contains_key(field),
            "{field} missing from {errors:?}"
        );
    }
}

#[test]
fn code_and_files_are_exclusive_and_one_is_required() {
    let both = field_errors(json!({"path": "a", "runtime": "python", "code": "x", "files": {}}));
    assert!(both["code"].contains("not both"));
    let neither = field_errors(json!({"path": "a", "runtime": "python"}));
    assert!(neither.contains_key("code"));
}

#[test]
fn file_names_must_stay_inside_the_function_folder() {
    let errors = field_errors(json!({"path": "a", "runtime": "python", "files": {
        "handler.py": "x", "/etc/passwd": "x", "../up.py": "x", "a//b": "x", "n.py": 1
    }}));
    for f in [
        "files./etc/passwd",
        "files.../up.py",
        "files.a//b",
        "files.n.py",
    ] {
        assert!(errors.contains_key(f), "{f} missing from {errors:?}");
    }
}

#[test]
fn too_many_or_too_large_files_are_refused() {
    let many: Map<String, Value> = (0..=MAX_FILES)
        .map(|i| (format!("f{i}.py"), json!("x")))
        .collect();
    let errors = field_errors(json!({"path": "a", "runtime": "python", "files": many}));
    assert!(errors["files"].contains("more than 64"));
    let big = "x".repeat(2000);
    assert!(
        field_errors(json!({"path": "a", "runtime": "python", "code": big})).contains_key("code")
    );
    let errors = field_errors(json!({"path": "a", "runtime": "python",
        "files": {"handler.py": "x".repeat(600), "b.py": "x".repeat(600)}}));
    assert!(errors["files"].contains("total size"));
}

#[test]
fn min_instances_may_not_exceed_max_instances() {
    let errors = field_errors(json!({"path": "a", "runtime": "python", "code": "x",
        "min_instances": 3, "max_instances": 2}));
    assert!(errors["min_instances"].contains("max_instances"));
}

#[test]
fn the_handler_module_must_be_among_the_files() {
    let errors = field_errors(json!({"path": "a", "runtime": "python",
        "files": {"main.py": "x"}, "handler": "pkg.mod.handle"}));
    assert!(errors["handler"].contains("pkg/mod.py"));
    let spec = deploy(json!({"path": "a", "runtime": "python",
        "files": {"pkg/mod.py": "x"}, "handler": "pkg.mod.handle"}));
    assert_eq!(spec.handler_module(), "pkg.mod");
}

#[test]
fn undeploy_needs_only_a_path() {
    assert_eq!(
        parse_deploy(&json!({"path": "gone", "action": "undeploy"}), DEFAULTS),
        Ok(DeployAction::Undeploy {
            path: "gone".into()
        })
    );
    assert!(field_errors(json!({"action": "undeploy"})).contains_key("path"));
}

#[test]
fn null_fields_take_their_defaults() {
    let spec = deploy(json!({"path": "a", "runtime": "python", "code": "x", "memory_mb": null}));
    assert_eq!(spec.memory_mb, 256);
}

#[test]
fn dns_label_paths_are_accepted_up_to_63_characters() {
    let long = format!("a{}", "b".repeat(62));
    deploy(json!({"path": long, "runtime": "python", "code": "x"}));
    let too_long = format!("a{}", "b".repeat(63));
    assert!(
        field_errors(json!({"path": too_long, "runtime": "python", "code": "x"}))
            .contains_key("path")
    );
    assert!(
        field_errors(json!({"path": "ends-", "runtime": "python", "code": "x"}))
            .contains_key("path")
    );
}

#[test]
fn whole_numbers_count_as_integers_whatever_their_spelling() {
    // JSON Schema's `integer` takes 128.0 as 128; so does the parser.
    let spec = deploy(json!({"path": "a", "runtime": "python", "code": "x", "memory_mb": 128.0}));
    assert_eq!(spec.memory_mb, 128);
    let wrong = field_errors(json!({
        "path": "a", "runtime": "python", "code": "x", "memory_mb": 128.5, "max_instances": -1.0
    }));
    assert!(wrong.contains_key("memory_mb"), "{wrong:?}");
    assert!(wrong.contains_key("max_instances"), "{wrong:?}");
}

#[test]
fn file_names_are_measured_in_characters() {
    let files = |name: String| {
        json!({"path": "a", "runtime": "python", "handler": "handler.handle",
        "files": {"handler.py": "x", name: "y"}})
    };
    // 255 two-byte characters are 510 bytes and still a valid name.
    let spec = deploy(files("é".repeat(255)));
    assert_eq!(spec.files.len(), 2);
    assert!(
        field_errors(files("é".repeat(256))).contains_key(&format!("files.{}", "é".repeat(256)))
    );
}

#[test]
fn the_file_name_pattern_accepts_exactly_the_names_the_parser_accepts() {
    let pattern = Regex::new(FILE_NAME).expect("the pattern compiles");
    for name in [
        "handler.py",
        "pkg/mod.py",
        ".env",
        "..x",
        "...",
        "a/.b/..c/d",
        "spaces are fine.txt",
        "é/ü",
        "",
        "/abs",
        "a//b",
        "a/",
        ".",
        "..",
        "a/./b",
        "a/../b",
        "back\\slash",
        "nul\0byte",
    ] {
        assert_eq!(
            pattern.is_match(name),
            check_file_name(name).is_ok(),
            "{name:?}"
        );
    }
}
