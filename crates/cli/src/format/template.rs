//! A small evaluator for the Go-template basics docker users pass to `--format`, run over a
//! `serde_json::Value` (docker itself falls back to the raw JSON map when the typed struct lacks
//! a field, so JSON semantics are what users see).
//!
//! Supported: literal text, `{{.}}`, field chains `{{.Config.Cmd}}` (exact key first, then a
//! case-insensitive match so `.ID` finds `Id`), string/number literals, pipelines with `|`,
//! `{{- trim -}}` markers, `range`/`if`/`with` with `else` and `end`, and the functions `json`,
//! `join`, `split`, `index`, `len`, `upper`, `lower`, `title`, `println`. Values print the way Go's
//! `fmt` prints them: `[a b]` for lists, `map[k:v]` for objects, `<no value>` for missing keys.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// A parsed template, reusable for every object it is executed on.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    Block {
        kind: BlockKind,
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BlockKind {
    Range,
    If,
    With,
}

type Pipeline = Vec<Command>;
type Command = Vec<Operand>;

#[derive(Debug, Clone)]
enum Operand {
    Field(Vec<String>),
    Literal(Value),
    Function(String),
}

/// A lexed piece of the template source.
enum Piece {
    Text(String),
    Action(String),
}

impl Template {
    pub fn parse(source: &str) -> Result<Template> {
        let pieces = lex(source)?;
        let mut iter = pieces.into_iter();
        let (nodes, end) = parse_nodes(&mut iter)?;
        if let Some(end) = end {
            bail!("template: unexpected {{{{{end}}}}}");
        }
        Ok(Template { nodes })
    }

    pub fn execute(&self, dot: &Value) -> Result<String> {
        let mut out = String::new();
        render(&self.nodes, dot, &mut out)?;
        Ok(out)
    }
}

fn lex(source: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow!("template: unclosed action"))?;
        let mut action = &after[..end];
        if let Some(stripped) = action.strip_prefix("- ") {
            text.truncate(text.trim_end().len());
            action = stripped;
        }
        rest = &after[end + 2..];
        if let Some(stripped) = action.strip_suffix(" -") {
            rest = rest.trim_start();
            action = stripped;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        pieces.push(Piece::Action(action.trim().to_string()));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// Parses nodes until `{{else}}` or `{{end}}`, which is returned so the caller can check it.
fn parse_nodes(iter: &mut impl Iterator<Item = Piece>) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some(piece) = iter.next() {
        let action = match piece {
            Piece::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Piece::Action(a) => a,
        };
        let (word, rest) = action
            .split_once(char::is_whitespace)
            .unwrap_or((&action, ""));
        let kind = match word {
            "end" | "else" => return Ok((nodes, Some(word.to_string()))),
            "range" => BlockKind::Range,
            "if" => BlockKind::If,
            "with" => BlockKind::With,
            _ => {
                nodes.push(Node::Action(parse_pipeline(&action)?));
                continue;
            }
        };
        let pipeline = parse_pipeline(rest)?;
        let (body, end) = parse_nodes(iter)?;
        let otherwise = match end.as_deref() {
            Some("end") => Vec::new(),
            Some(_) => match parse_nodes(iter)? {
                (otherwise, Some(e)) if e == "end" => otherwise,
                _ => bail!("template: missing {{{{end}}}} after {{{{else}}}}"),
            },
            None => bail!("template: missing {{{{end}}}} for {{{{{word}}}}}"),
        };
        nodes.push(Node::Block {
            kind,
            pipeline,
            body,
            otherwise,
        });
    }
    Ok((nodes, None))
}

fn parse_pipeline(source: &str) -> Result<Pipeline> {
    let tokens = tokenize(source)?;
    let mut pipeline = vec![Vec::new()];
    for token in tokens {
        if token == "|" {
            pipeline.push(Vec::new());
            continue;
        }
        let operand = parse_operand(&token)?;
        if let Some(command) = pipeline.last_mut() {
            command.push(operand);
        }
    }
    if pipeline.iter().any(Vec::is_empty) {
        bail!("template: empty command in {{{{{source}}}}}");
    }
    Ok(pipeline)
}

fn parse_operand(token: &str) -> Result<Operand> {
    if token == "." {
        return Ok(Operand::Field(Vec::new()));
    }
    if let Some(path) = token.strip_prefix('.') {
        return Ok(Operand::Field(
            path.split('.').map(str::to_string).collect(),
        ));
    }
    if token.starts_with('"') || token.starts_with('`') {
        return Ok(Operand::Literal(Value::String(token[1..].to_string())));
    }
    if let Ok(n) = token.parse::<i64>() {
        return Ok(Operand::Literal(Value::from(n)));
    }
    match token {
        "true" | "false" => Ok(Operand::Literal(Value::Bool(token == "true"))),
        "nil" => Ok(Operand::Literal(Value::Null)),
        _ if token.chars().all(|c| c.is_alphanumeric() || c == '_') => {
            Ok(Operand::Function(token.to_string()))
        }
        _ => bail!("template: unexpected {token:?}"),
    }
}

/// Splits an action into words, `|`, and string literals (kept with their opening quote so
/// they are not mistaken for function names; the closing quote is dropped).
fn tokenize(source: &str) -> Result<Vec<String>> {
    let mut tokens = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            tokens.push("|".to_string());
        } else if c == '"' || c == '`' {
            chars.next();
            let mut s = String::from(c);
            loop {
                match chars.next() {
                    None => bail!("template: unterminated string in {source:?}"),
                    Some(q) if q == c => break,
                    Some('\\') if c == '"' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(other) => s.push(other),
                        None => bail!("template: unterminated string in {source:?}"),
                    },
                    Some(other) => s.push(other),
                }
            }
            tokens.push(s);
        } else {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if w.is_whitespace() || w == '|' {
                    break;
                }
                word.push(w);
                chars.next();
            }
            tokens.push(word);
        }
    }
    Ok(tokens)
}

fn render(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&to_text(&eval_pipeline(p, dot)?)),
            Node::Block {
                kind,
                pipeline,
                body,
                otherwise,
            } => {
                let value = eval_pipeline(pipeline, dot)?;
                match kind {
                    BlockKind::Range => {
                        let items: Vec<&Value> = match &value {
                            Value::Array(a) => a.iter().collect(),
                            Value::Object(m) => m.values().collect(),
                            Value::Null => Vec::new(),
                            other => bail!("template: range can't iterate over {}", to_text(other)),
                        };
                        if items.is_empty() {
                            render(otherwise, dot, out)?;
                        }
                        for item in items {
                            render(body, item, out)?;
                        }
                    }
                    BlockKind::If if truthy(&value) => render(body, dot, out)?,
                    BlockKind::With if truthy(&value) => render(body, &value, out)?,
                    BlockKind::If | BlockKind::With => render(otherwise, dot, out)?,
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(pipeline: &Pipeline, dot: &Value) -> Result<Value> {
    let mut piped: Option<Value> = None;
    for command in pipeline {
        piped = Some(eval_command(command, dot, piped.take())?);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn eval_command(command: &Command, dot: &Value, piped: Option<Value>) -> Result<Value> {
    let Some((first, rest)) = command.split_first() else {
        return Ok(Value::Null);
    };
    let Operand::Function(name) = first else {
        if !rest.is_empty() || piped.is_some() {
            bail!("template: can't give arguments to a non-function");
        }
        return Ok(eval_operand(first, dot));
    };
    let mut args: Vec<Value> = rest.iter().map(|o| eval_operand(o, dot)).collect();
    args.extend(piped);
    call(name, &args).with_context(|| format!("template: error calling {name}"))
}

fn eval_operand(operand: &Operand, dot: &Value) -> Value {
    match operand {
        Operand::Literal(v) => v.clone(),
        Operand::Function(_) => Value::Null,
        Operand::Field(path) => path
            .iter()
            .try_fold(dot, |v, key| field(v, key))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

fn field<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let map = value.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn call(name: &str, args: &[Value]) -> Result<Value> {
    let arg = |i: usize| {
        args.get(i)
            .ok_or_else(|| anyhow!("missing argument {}", i + 1))
    };
    let text = |i: usize| arg(i).map(to_text);
    Ok(match name {
        "json" => Value::String(serde_json::to_string(arg(0)?)?),
        "upper" => Value::String(text(0)?.to_uppercase()),
        "lower" => Value::String(text(0)?.to_lowercase()),
        "title" => Value::String(title(&text(0)?)),
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(to_text).collect::<Vec<_>>().join(" ")
        )),
        "len" => Value::from(match arg(0)? {
            Value::Array(a) => a.len(),
            Value::Object(m) => m.len(),
            Value::String(s) => s.len(),
            other => bail!("len of {}", to_text(other)),
        }),
        "join" => match arg(0)? {
            Value::Array(a) => {
                Value::String(a.iter().map(to_text).collect::<Vec<_>>().join(&text(1)?))
            }
            Value::Null => Value::String(String::new()),
            other => bail!("join of {}", to_text(other)),
        },
        "split" => Value::Array(
            text(0)?
                .split(text(1)?.as_str())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        "index" => args
            .iter()
            .skip(1)
            .try_fold(arg(0)?.clone(), |v, key| match (&v, key) {
                (Value::Array(a), Value::Number(n)) => n
                    .as_u64()
                    .and_then(|i| a.get(usize::try_from(i).ok()?))
                    .cloned()
                    .ok_or_else(|| anyhow!("index out of range: {n}")),
                (Value::Object(m), key) => Ok(m.get(&to_text(key)).cloned().unwrap_or(Value::Null)),
                _ => bail!("can't index {}", to_text(&v)),
            })?,
        _ => bail!("function {name:?} not defined"),
    })
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// How Go's `fmt.Print` shows a decoded JSON value.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(to_text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", to_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
