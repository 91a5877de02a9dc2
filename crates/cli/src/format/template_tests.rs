use super::*;
use serde_json::json;

fn image() -> Value {
    json!({
        "Id": "sha256:0123456789abcdef",
        "RepoTags": ["busybox:latest", "busybox:1.36"],
        "Os": "linux",
        "Architecture": "amd64",
        "Size": 4264000,
        "Parent": null,
        "Config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": {"a": "1", "b": "x y"}},
    })
}

fn run(template: &str) -> String {
    Template::parse(template)
        .and_then(|t| t.execute(&image()))
        .unwrap_or_else(|e| format!("ERR {e:#}"))
}

#[test]
fn fields_and_literal_text() {
    assert_eq!(run("{{.Id}}"), "sha256:0123456789abcdef");
    assert_eq!(run("{{.Os}}/{{.Architecture}}"), "linux/amd64");
    assert_eq!(run("size={{.Size}} bytes"), "size=4264000 bytes");
    assert_eq!(run("no actions"), "no actions");
}

#[test]
fn nested_fields_and_go_printing() {
    assert_eq!(run("{{.Config.Cmd}}"), "[sh]");
    assert_eq!(run("{{.RepoTags}}"), "[busybox:latest busybox:1.36]");
    assert_eq!(run("{{.Config.Labels}}"), "map[a:1 b:x y]");
    assert_eq!(run("{{.Missing}}"), "<no value>");
    assert_eq!(run("{{.Parent}}"), "<no value>");
    assert_eq!(run("{{.Missing.Deeper}}"), "<no value>");
}

#[test]
fn field_names_fall_back_to_case_insensitive() {
    assert_eq!(run("{{.ID}}"), "sha256:0123456789abcdef");
}

#[test]
fn json_function_and_pipes() {
    assert_eq!(
        run("{{json .Config}}"),
        r#"{"Cmd":["sh"],"Env":["PATH=/bin"],"Labels":{"a":"1","b":"x y"}}"#
    );
    assert_eq!(run("{{.Config.Cmd | json}}"), r#"["sh"]"#);
    assert_eq!(run("{{json .}}").chars().next(), Some('{'));
    assert_eq!(run("{{.Os | upper}}"), "LINUX");
}

#[test]
fn functions_with_arguments() {
    assert_eq!(
        run(r#"{{join .RepoTags ", "}}"#),
        "busybox:latest, busybox:1.36"
    );
    assert_eq!(run(r#"{{index .Config.Labels "b"}}"#), "x y");
    assert_eq!(run("{{index .RepoTags 1}}"), "busybox:1.36");
    assert_eq!(run("{{len .RepoTags}}"), "2");
    assert_eq!(run(r#"{{split "a:b" ":"}}"#), "[a b]");
    assert_eq!(run(r#"{{title "hello world"}}"#), "Hello World");
}

#[test]
fn range_if_with_else() {
    assert_eq!(
        run("{{range .RepoTags}}<{{.}}>{{end}}"),
        "<busybox:latest><busybox:1.36>"
    );
    assert_eq!(run("{{range .Nope}}x{{else}}empty{{end}}"), "empty");
    assert_eq!(
        run("{{if .Config.Cmd}}has cmd{{else}}no cmd{{end}}"),
        "has cmd"
    );
    assert_eq!(run("{{if .Parent}}p{{else}}no parent{{end}}"), "no parent");
    assert_eq!(run("{{with .Config}}{{.Cmd}}{{end}}"), "[sh]");
}

#[test]
fn trim_markers() {
    assert_eq!(run("a  {{- .Os -}}  b"), "alinuxb");
}

#[test]
fn errors_are_reported() {
    assert!(run("{{.Id").starts_with("ERR"));
    assert!(run("{{nosuch .Id}}").contains("not defined"));
    assert!(run("{{range .RepoTags}}x").contains("missing {{end}}"));
    assert!(run("{{end}}").starts_with("ERR"));
}
