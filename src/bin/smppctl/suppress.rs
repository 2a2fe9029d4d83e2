//! `smppctl suppress`: suppression lists and the consent log, through the admin API.

use crate::api::{segment, Api};
use crate::cli::{ConsentArgs, ScopeArg, SuppressCommand};
use crate::output::{show, table};
use smppd::admin::api::{ConsentChange, ConsentView};

/// Most entries asked for per page of an export.
const PAGE: usize = 1000;

pub(crate) fn run(api: &Api, json: bool, command: SuppressCommand) -> anyhow::Result<()> {
    match command {
        SuppressCommand::Add(args) => change(api, json, args, "opted_out"),
        SuppressCommand::Remove(args) => change(api, json, args, "opted_in"),
        SuppressCommand::Show { number, scope } => {
            let path = format!("/api/suppressions/{}{}", segment(&number), query(&scope));
            show(json, &api.get(&path)?, |v: ConsentView| entries(&[v]))
        }
        SuppressCommand::Export { scope } => export(api, json, &scope),
        SuppressCommand::Import { file } => import(api, json, &file),
        SuppressCommand::Log => show(
            json,
            &api.get("/api/consent-log")?,
            |v: Vec<ConsentView>| entries(&v),
        ),
    }
}

fn change(api: &Api, json: bool, args: ConsentArgs, choice: &str) -> anyhow::Result<()> {
    let body = ConsentChange {
        scope: args.scope.scope,
        choice: choice.to_owned(),
        evidence: args.evidence,
    };
    let path = format!("/api/suppressions/{}", segment(&args.number));
    show(json, &api.put_json(&path, &body)?, |v: ConsentView| {
        entries(&[v])
    })
}

/// Every page of a scope's list; JSON lines with --json, so that a large list streams.
fn export(api: &Api, json: bool, scope: &ScopeArg) -> anyhow::Result<()> {
    let mut after: Option<String> = None;
    let mut all = Vec::new();
    loop {
        let mut path = format!("/api/suppressions{}", query(scope));
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&format!("limit={PAGE}"));
        if let Some(after) = &after {
            path.push_str(&format!("&after={}", segment(after)));
        }
        let page: Vec<ConsentView> = api.get(&path)?.view()?;
        let done = page.len() < PAGE;
        after = page.last().map(|v| v.number.clone());
        if json {
            for entry in &page {
                println!("{}", serde_json::to_string(entry)?);
            }
        } else {
            all.extend(page);
        }
        if done {
            break;
        }
    }
    if !json {
        println!("{}", entries(&all).trim_end());
    }
    Ok(())
}

/// Sends the file in parts of [`IMPORT_PART`] lines; stops at the first part refused (the
/// parts before it are recorded, and the message says which line failed).
fn import(api: &Api, json: bool, file: &std::path::Path) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut imported = 0;
    for (part, chunk) in lines.chunks(IMPORT_PART).enumerate() {
        let reply = api
            .post_text("/api/suppressions/import", &chunk.join("\n"))
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e} (in the part from line {} of the file; {imported} imported before it)",
                    part * IMPORT_PART + 1
                )
            })?;
        imported += reply.json["imported"].as_u64().unwrap_or(0);
    }
    if json {
        println!("{}", serde_json::json!({ "imported": imported }));
    } else {
        println!("imported {imported} choices");
    }
    Ok(())
}

/// Lines per import request (the server takes up to 10,000).
const IMPORT_PART: usize = 1000;

fn query(scope: &ScopeArg) -> String {
    scope
        .scope
        .as_ref()
        .map_or_else(String::new, |s| format!("?scope={}", segment(s)))
}

fn entries(views: &[ConsentView]) -> String {
    let rows = views.iter().map(|v| {
        vec![
            v.number.clone(),
            v.scope.clone(),
            v.choice.clone(),
            v.at.clone(),
            v.origin.clone(),
            v.keyword.clone().unwrap_or_default(),
            v.evidence.clone(),
        ]
    });
    table(
        &[
            "NUMBER", "SCOPE", "CHOICE", "AT", "ORIGIN", "KEYWORD", "EVIDENCE",
        ],
        rows,
    )
}
