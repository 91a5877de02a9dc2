//! Dockerfile instructions applied to an image config by `import --change` (and, later,
//! `commit --change`): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL.

use serde_json::{json, Map, Value};

use crate::ImageError;

/// Applies each instruction to `config` (the `config` object of an image configuration).
pub fn apply_changes(config: &mut Value, changes: &[String]) -> Result<(), ImageError> {
    for change in changes {
        apply(config, change)?;
    }
    Ok(())
}

fn apply(config: &mut Value, change: &str) -> Result<(), ImageError> {
    let invalid = |reason| ImageError::InvalidChange {
        change: change.to_string(),
        reason,
    };
    let (instruction, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| invalid("expected an instruction and its arguments"))?;
    let rest = rest.trim();
    let obj = config
        .as_object_mut()
        .ok_or_else(|| invalid("config is not an object"))?;
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => {
            obj.insert("Cmd".into(), json!(command(rest)));
        }
        "ENTRYPOINT" => {
            obj.insert("Entrypoint".into(), json!(command(rest)));
        }
        "USER" => {
            obj.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            if !rest.starts_with('/') {
                return Err(invalid("WORKDIR must be an absolute path"));
            }
            obj.insert("WorkingDir".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            obj.insert("StopSignal".into(), json!(rest));
        }
        "ENV" => {
            let env = obj.entry("Env").or_insert_with(|| json!([]));
            for (k, v) in key_values(rest).ok_or_else(|| invalid("expected KEY=VALUE"))? {
                if let Some(list) = env.as_array_mut() {
                    list.retain(|e| e.as_str().and_then(|s| s.split_once('=')).map(|(n, _)| n) != Some(k.as_str()));
                    list.push(json!(format!("{k}={v}")));
                }
            }
        }
        "LABEL" => {
            let labels = obj.entry("Labels").or_insert_with(|| json!({}));
            for (k, v) in key_values(rest).ok_or_else(|| invalid("expected KEY=VALUE"))? {
                if let Some(map) = labels.as_object_mut() {
                    map.insert(k, json!(v));
                }
            }
        }
        "EXPOSE" => {
            let ports = set_entry(obj, "ExposedPorts");
            for port in rest.split_whitespace() {
                let (num, proto) = port.split_once('/').unwrap_or((port, "tcp"));
                if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(invalid("EXPOSE takes PORT[/tcp|udp|sctp]"));
                }
                ports.insert(format!("{num}/{proto}"), json!({}));
            }
        }
        "VOLUME" => {
            let volumes = set_entry(obj, "Volumes");
            for v in command_or_words(rest) {
                volumes.insert(v, json!({}));
            }
        }
        _ => return Err(invalid("unsupported instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL)")),
    }
    Ok(())
}

fn set_entry<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = obj.entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("just made it an object"),
    }
}

/// JSON form (`["sh", "-c", "x"]`) as is; shell form wrapped in `/bin/sh -c`.
fn command(rest: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(rest)
        .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

fn command_or_words(rest: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(rest)
        .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect())
}

/// `A=1 B="two words"` or the legacy single `KEY value` form.
fn key_values(rest: &str) -> Option<Vec<(String, String)>> {
    if !rest.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut pairs = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            value.extend(chars.by_ref().take_while(|c| *c != '"'));
        } else {
            while let Some(c) = chars.peek().copied() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        if key.is_empty() {
            return None;
        }
        pairs.push((key, value));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Value {
        let mut config = json!({});
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut config, &changes).unwrap();
        config
    }

    #[test]
    fn cmd_json_and_shell_forms() {
        assert_eq!(applied(&[r#"CMD ["sh"]"#])["Cmd"], json!(["sh"]));
        assert_eq!(
            applied(&["CMD echo hi"])["Cmd"],
            json!(["/bin/sh", "-c", "echo hi"])
        );
    }

    #[test]
    fn env_label_expose_replace_and_merge() {
        let c = applied(&[
            "ENV A=1 B=\"two words\"",
            "ENV A=3",
            "LABEL x=y",
            "EXPOSE 80 53/udp",
        ]);
        assert_eq!(c["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(c["Labels"], json!({"x": "y"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        let mut c = json!({});
        for bad in ["RUN echo", "WORKDIR relative", "EXPOSE http", "CMD"] {
            let err = apply_changes(&mut c, &[bad.to_string()]).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
