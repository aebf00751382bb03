//! What the watcher reports: which entries match the watch list, the JSON line printed for each
//! (and POSTed to the webhook), and the webhook delivery with retries.

use super::WatchError;
use super::decode::Subject;
use mayfly_spec::fulcio::ExtensionField;
use serde::Serialize;
use std::time::Duration;

/// The watch list. Empty means "every entry"; otherwise an entry matches if any repository or
/// any identity pattern does.
pub(crate) struct Filters {
    repositories: Vec<String>,
    identities: Vec<regex::Regex>,
}

impl Filters {
    /// Patterns are anchored (they must match the whole SAN), as `mayfly verify` does.
    pub(crate) fn new(repositories: &[String], identities: &[String]) -> Result<Self, WatchError> {
        let identities = identities
            .iter()
            .map(|p| {
                regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                    WatchError::Usage(format!("--identity-regexp {p:?} is not a regex: {e}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Filters {
            repositories: repositories.to_vec(),
            identities,
        })
    }

    pub(crate) fn matches(&self, subject: &Subject) -> bool {
        if self.repositories.is_empty() && self.identities.is_empty() {
            return true;
        }
        let repository = subject.extension(ExtensionField::SourceRepositoryUri.oid_arc());
        let legacy = subject.extension(ExtensionField::GithubWorkflowRepository.oid_arc());
        self.repositories
            .iter()
            .any(|r| repository.is_some_and(|uri| repository_is(uri, r)) || legacy == Some(r))
            || subject
                .san
                .as_deref()
                .is_some_and(|san| self.identities.iter().any(|re| re.is_match(san)))
    }
}

/// `watched` is a repository URI (compared exactly) or `owner/name`, which matches that path on
/// any host (GitHub's owner and repository names are case-insensitive).
fn repository_is(uri: &str, watched: &str) -> bool {
    if watched.contains("://") {
        return uri == watched;
    }
    url::Url::parse(uri).is_ok_and(|u| {
        u.path()
            .trim_start_matches('/')
            .trim_end_matches('/')
            .eq_ignore_ascii_case(watched)
    })
}

/// One reported entry: the JSON line printed and POSTed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Match {
    /// `issuance` or `artifacts`.
    pub log: &'static str,
    pub index: u64,
    pub san: Option<String>,
    pub issuer: Option<String>,
    /// Fulcio `.12`, the source repository URI.
    pub repository: Option<String>,
    /// Fulcio `.14`, the source repository ref.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Fulcio `.9`, the build signer URI (the workflow file at its ref).
    pub workflow: Option<String>,
    /// Size of the signed checkpoint that this entry was proven against.
    pub checkpoint_size: u64,
}

impl Match {
    pub(crate) fn new(log: &'static str, index: u64, subject: Subject, size: u64) -> Self {
        let ext = |f: ExtensionField| subject.extension(f.oid_arc()).map(str::to_owned);
        Match {
            log,
            index,
            repository: ext(ExtensionField::SourceRepositoryUri),
            git_ref: ext(ExtensionField::SourceRepositoryRef),
            workflow: ext(ExtensionField::BuildSignerUri),
            san: subject.san,
            issuer: subject.issuer,
            checkpoint_size: size,
        }
    }
}

/// POSTs matches to a webhook.
pub(crate) struct Webhook {
    http: reqwest::Client,
    url: url::Url,
    /// Pauses between attempts; attempts = pauses + 1.
    pauses: Vec<Duration>,
}

impl Webhook {
    pub(crate) fn new(http: reqwest::Client, url: url::Url, pauses: Vec<Duration>) -> Self {
        Webhook { http, url, pauses }
    }

    /// Delivers one match: retried on transport errors, 408, 429 and 5xx; any other answer
    /// than 2xx, or the last failed attempt, is an error.
    pub(crate) async fn deliver(&self, body: &Match) -> Result<(), WatchError> {
        let mut pauses = self.pauses.iter();
        loop {
            let (why, retry) = match self.http.post(self.url.clone()).json(body).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let s = r.status();
                    let retry = s.is_server_error() || matches!(s.as_u16(), 408 | 429);
                    (format!("answered {s}"), retry)
                }
                Err(e) => (e.to_string(), true),
            };
            match pauses.next().filter(|_| retry) {
                Some(pause) => tokio::time::sleep(*pause).await,
                None => {
                    return Err(WatchError::Webhook {
                        url: self.url.to_string(),
                        why: format!("{why} after {} attempts", self.pauses.len() + 1),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(san: &str, repo: Option<&str>) -> Subject {
        Subject {
            san: Some(san.into()),
            issuer: Some("https://issuer".into()),
            extensions: repo
                .map(|r| vec![(ExtensionField::SourceRepositoryUri.oid_arc(), r.into())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn watch_list_matches_repository_or_identity() {
        let s = subject(
            "https://github.com/octo-org/octo-repo/.github/workflows/r.yml@refs/heads/main",
            Some("https://github.com/octo-org/octo-repo"),
        );
        let all = Filters::new(&[], &[]).unwrap();
        assert!(all.matches(&s));
        let short = Filters::new(&["Octo-Org/octo-repo".into()], &[]).unwrap();
        assert!(short.matches(&s));
        let full = Filters::new(&["https://github.com/octo-org/octo-repo".into()], &[]).unwrap();
        assert!(full.matches(&s));
        let other = Filters::new(&["octo-org/other".into()], &[]).unwrap();
        assert!(!other.matches(&s));
        let prefix = Filters::new(&["octo-org/octo".into()], &[]).unwrap();
        assert!(!prefix.matches(&s));
        // Anchored: a substring of the SAN does not match.
        let re = Filters::new(&[], &["github\\.com/octo-org/.*".into()]).unwrap();
        assert!(!re.matches(&s));
        let re = Filters::new(&[], &["https://github\\.com/octo-org/.*".into()]).unwrap();
        assert!(re.matches(&s));
        assert!(!re.matches(&subject("mailto:someone@example.com", None)));
        assert!(Filters::new(&[], &["(".into()]).is_err());
    }
}
