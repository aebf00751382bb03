//! The explorer's HTML. Fixed markup is written here; every other string is passed through
//! [`escape`] (the `e` shorthand) or, inside a link's query, [`query_value`] first.

use super::data::{ArtifactView, CertificateView, Instance};
use super::html::{escape as e, query_value};
use mayfly_spec::audit::AuditedCertificate;
use mayfly_spec::fulcio;
use std::fmt::Write as _;

/// The search form's fields, in the order shown: (parameter, label, placeholder).
pub(super) const FIELDS: [(&str, &str, &str); 5] = [
    (
        "repository",
        "Repository",
        "owner/name or https://github.com/owner/name",
    ),
    (
        "san",
        "SAN",
        "https://github.com/owner/name/.github/workflows/x.yml@refs/heads/main",
    ),
    (
        "issuer",
        "Issuer",
        "https://token.actions.githubusercontent.com",
    ),
    ("since", "Since", "2026-12-01T00:00:00Z"),
    ("until", "Until", "2026-12-31T23:59:59Z"),
];

/// A whole page around `body`; `title` is plain text.
pub(super) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Mayfly</title><link rel=\"stylesheet\" href=\"/explorer.css\"></head>\
         <body><header><a href=\"/\">Mayfly</a> explorer · <a href=\"/search\">search</a></header>\
         <main><h1>{title}</h1>\n{body}</main></body></html>\n",
        title = e(title)
    )
}

/// The search form, filled with `values` (parameter, value).
pub(super) fn search_form(values: &[(String, String)]) -> String {
    let mut out = String::from("<form method=\"get\" action=\"/search\" class=\"search\">");
    for (name, label, placeholder) in FIELDS {
        let value = values
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str());
        let _ = write!(
            out,
            "<label>{label} <input name=\"{name}\" value=\"{}\" placeholder=\"{}\"></label>",
            e(value),
            e(placeholder)
        );
    }
    out.push_str("<button type=\"submit\">Search</button></form>\n");
    out
}

pub(super) fn home(instance: &Instance, recent: &[AuditedCertificate]) -> String {
    let mut b = search_form(&[]);
    let _ = write!(
        b,
        "<h2>Instance</h2><dl><dt>Public URL</dt><dd><code>{}</code></dd></dl>",
        e(&instance.public_url)
    );
    b.push_str("<h2>Issuers accepted</h2><table><tr><th>Issuer</th><th>Type</th></tr>");
    for (url, kind) in &instance.issuers {
        let _ = write!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            e(url),
            e(kind)
        );
    }
    b.push_str(
        "</table><h2>Certificate authorities</h2><table><tr><th>Generation</th>\
                <th>Active from</th><th>Role</th><th>Subject</th><th>Not before</th>\
                <th>Not after</th></tr>",
    );
    for ca in &instance.authorities {
        for (role, subject, not_before, not_after) in &ca.certificates {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td>\
                 <td>{}</td></tr>",
                ca.generation,
                e(ca.active_from.as_deref().unwrap_or("start")),
                e(role),
                e(subject),
                e(not_before),
                e(not_after)
            );
        }
    }
    b.push_str("</table><h2>Logs</h2>");
    for log in &instance.logs {
        let _ = write!(
            b,
            "<h3>{name}</h3><dl><dt>Size</dt><dd class=\"size\">{size}</dd><dt>Root</dt>\
             <dd><code>{root}</code></dd></dl><pre class=\"note\">{note}</pre>",
            name = e(log.name),
            size = log.checkpoint.size,
            root = e(&log.checkpoint.root.to_hex()),
            note = e(&log.checkpoint.note)
        );
    }
    b.push_str("<h2>Recent issuances</h2>");
    b.push_str(&certificate_table(recent));
    layout("Mayfly transparency explorer", &b)
}

/// A table of certificates linking to their pages.
pub(super) fn certificate_table(certificates: &[AuditedCertificate]) -> String {
    if certificates.is_empty() {
        return "<p class=\"empty\">No certificates.</p>".into();
    }
    let mut b = String::from(
        "<table class=\"results\"><tr><th>Log index</th><th>Not before</th><th>SAN</th>\
         <th>Issuer</th></tr>",
    );
    for c in certificates {
        let _ = write!(
            b,
            "<tr><td><a href=\"/certificates/{i}\">{i}</a></td><td>{}</td><td><code>{}</code>\
             </td><td><code>{}</code></td></tr>",
            e(&c.not_before),
            e(&c.san),
            e(&c.issuer),
            i = c.log_index
        );
    }
    b.push_str("</table>");
    b
}

/// Search results: `params` are the search as given (without cursor), `next` the next page's
/// cursor.
pub(super) fn search(
    params: &[(String, String)],
    certificates: &[AuditedCertificate],
    next: Option<&str>,
) -> String {
    let mut b = search_form(params);
    if params.is_empty() {
        b.push_str("<p>No filter: every certificate, in log order.</p>");
    }
    b.push_str(&certificate_table(certificates));
    if let Some(cursor) = next {
        let mut query: String = params
            .iter()
            .map(|(k, v)| format!("{}={}&", query_value(k), query_value(v)))
            .collect();
        let _ = write!(query, "cursor={}", query_value(cursor));
        let _ = write!(
            b,
            "<p><a class=\"next\" href=\"/search?{}\">Next page</a></p>",
            e(&query)
        );
    }
    layout("Search certificates", &b)
}

pub(super) fn certificate(view: &CertificateView) -> String {
    let c = &view.certificate;
    let mut b = String::from("<h2>Identity</h2><dl>");
    let _ = write!(
        b,
        "<dt>SAN</dt><dd class=\"san\"><code>{}</code></dd><dt>Issuer</dt><dd><code>{}</code>\
         </dd><dt>Not before</dt><dd>{}</dd><dt>Not after</dt><dd>{}</dd><dt>Issuance log index\
         </dt><dd>{}</dd></dl><h2>Fulcio extensions</h2><table class=\"extensions\">\
         <tr><th>Extension</th><th>Name</th><th>OID</th><th>Value</th></tr>",
        e(&c.san),
        e(&c.issuer),
        e(&c.not_before),
        e(&c.not_after),
        c.log_index
    );
    for (arc, value) in &view.extensions {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>1.3.6.1.4.1.57264.1.{arc}</td><td><code>{}</code>\
             </td></tr>",
            e(fulcio::arc_title(*arc).unwrap_or("(unnamed)")),
            e(fulcio::arc_name(*arc).unwrap_or("")),
            e(value)
        );
    }
    let p = &c.inclusion_proof;
    let (class, verdict) = match &view.proof {
        Ok(()) => ("ok", "verified".to_owned()),
        Err(why) => ("bad", format!("NOT verified: {why}")),
    };
    let _ = write!(
        b,
        "</table><h2>Inclusion proof</h2><p class=\"proof {class}\">{}</p><dl><dt>Tree size</dt>\
         <dd>{}</dd><dt>Root</dt><dd><code>{}</code></dd><dt>Proof hashes</dt><dd>{}</dd></dl>\
         <pre class=\"note\">{}</pre>",
        e(&verdict),
        p.tree_size,
        e(&p.root_hash),
        p.hashes.len(),
        e(&p.checkpoint)
    );
    b.push_str("<h2>Artifact-log entries signed with this certificate</h2>");
    if view.capped {
        b.push_str(
            "<p class=\"note\">Only the first entries naming this SAN were checked; search \
             the artifact log by SAN or digest (<code>POST /api/v1/index/retrieve</code>) for \
             the rest.</p>",
        );
    }
    if view.signed.is_empty() {
        b.push_str("<p class=\"empty\">None found.</p>");
    } else {
        b.push_str(&artifact_table(&view.signed));
    }
    let _ = write!(
        b,
        "<h2>Certificate (rebuilt from the logged TBS)</h2><pre>{}</pre>",
        e(&c.certificate)
    );
    layout(&format!("Certificate {}", c.log_index), &b)
}

fn artifact_table(entries: &[ArtifactView]) -> String {
    let mut b = String::from(
        "<table><tr><th>Log index</th><th>Kind</th><th>Integrated</th><th>Digest</th></tr>",
    );
    for a in entries {
        let _ = write!(
            b,
            "<tr><td><a href=\"/entries/{i}\">{i}</a></td><td>{}</td><td>{}</td><td><code>{}\
             </code></td></tr>",
            e(&a.kind),
            e(a.integrated.as_deref().unwrap_or("")),
            e(&a.digests.join(" ")),
            i = a.index
        );
    }
    b.push_str("</table>");
    b
}

pub(super) fn artifact(a: &ArtifactView) -> String {
    let list = |items: &[String]| -> String {
        if items.is_empty() {
            return "(none)".into();
        }
        items
            .iter()
            .map(|i| format!("<code>{}</code><br>", e(i)))
            .collect()
    };
    let b = format!(
        "<dl><dt>Kind</dt><dd>{}</dd><dt>UUID</dt><dd><code>{}</code></dd><dt>Integrated</dt>\
         <dd>{}</dd><dt>Digests</dt><dd>{}</dd><dt>Signer SANs</dt><dd>{}</dd></dl>",
        e(&a.kind),
        e(&a.uuid),
        e(a.integrated.as_deref().unwrap_or("unknown")),
        list(&a.digests),
        list(&a.signers)
    );
    layout(&format!("Artifact-log entry {}", a.index), &b)
}

/// An error page: `message` is plain text.
pub(super) fn error(title: &str, message: &str) -> String {
    layout(title, &format!("<p class=\"error\">{}</p>", e(message)))
}

pub(super) const CSS: &str = "\
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}\
header{background:#2d3142;color:#fff;padding:.6em 1.2em}header a{color:#fff}\
main{max-width:72em;margin:0 auto;padding:1em 1.2em}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#eef}td code{word-break:break-all}\
dl{display:grid;grid-template-columns:12em 1fr;gap:.2em 1em}dd{margin:0;word-break:break-all}\
pre{background:#f0f0f0;padding:.6em;overflow-x:auto;font-size:.85em}\
form.search{display:flex;flex-wrap:wrap;gap:.5em;align-items:end;margin:1em 0}\
form.search label{display:flex;flex-direction:column;font-size:.85em}\
form.search input{min-width:16em;padding:.3em}\
.proof.ok{color:#176b2c;font-weight:bold}.proof.bad,.error{color:#a11;font-weight:bold}\
";
