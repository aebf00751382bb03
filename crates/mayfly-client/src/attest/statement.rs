//! The in-toto statements `mayfly attest` signs.
//!
//! npm provenance is reproduced as npm's CLI (libnpmpublish) builds it, field for field and in
//! its key order, because the DSSE payload is those exact bytes and `npm audit signatures`
//! users compare what we sign with what npm signs: GitHub Actions gets Statement v1 with SLSA
//! provenance v1, GitLab CI gets Statement v0.1 with SLSA provenance v0.2. Serde structs keep
//! declaration order, which is how the key order is pinned.
//!
//! Where npm interpolates a variable into a string (a URL, an ID) an unset variable would come
//! out as the text "undefined"; we refuse instead, because signing such provenance is never
//! intended. Where npm copies a variable's value as is, an unset one is omitted, exactly as
//! `JSON.stringify` drops `undefined`.

use super::env::{Env, nonempty};
use super::error::AttestError;
use serde::Serialize;
use serde::ser::SerializeMap;
use std::collections::BTreeMap;

pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
const GITHUB_BUILD_TYPE: &str =
    "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";
const GITHUB_BUILDER_PREFIX: &str = "https://github.com/actions/runner";
const GITLAB_BUILD_TYPE: &str = "https://github.com/npm/cli/gitlab/v0alpha1";

/// One statement subject: a name and its digests (`{"sha512": hex}` for npm).
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDescriptor {
    pub name: String,
    pub digest: BTreeMap<&'static str, String>,
}

/// An in-toto statement; `P` is the predicate.
#[derive(Debug, Serialize)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub statement_type: &'static str,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

/// Which CI built the package, as npm decides it (GitLab wins if both are somehow set, since
/// npm checks it second and overwrites).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    GitHubActions,
    GitLab,
}

pub fn detect_ci(env: &dyn Env) -> Option<Ci> {
    if nonempty(env, "GITLAB_CI").is_some() {
        Some(Ci::GitLab)
    } else if nonempty(env, "GITHUB_ACTIONS").is_some() {
        Some(Ci::GitHubActions)
    } else {
        None
    }
}

/// The npm provenance payload for `subject`: compact JSON, npm's key order.
pub fn npm_provenance(subject: ResourceDescriptor, env: &dyn Env) -> Result<Vec<u8>, AttestError> {
    let json = match detect_ci(env).ok_or(AttestError::NotInCi)? {
        Ci::GitHubActions => serde_json::to_vec(&github(subject, env)?),
        Ci::GitLab => serde_json::to_vec(&gitlab(subject, env)?),
    };
    json.map_err(|e| AttestError::InvalidInput(format!("serialising the statement: {e}")))
}

/// A Statement v1 over one file with a caller-supplied predicate.
pub fn general(
    subject: ResourceDescriptor,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Result<Vec<u8>, AttestError> {
    if predicate_type.trim().is_empty() || predicate_type.chars().any(char::is_whitespace) {
        return Err(AttestError::InvalidInput(format!(
            "predicate type {predicate_type:?} must be a URI"
        )));
    }
    if !predicate.is_object() {
        return Err(AttestError::InvalidInput(
            "the predicate must be a JSON object".into(),
        ));
    }
    let statement = Statement {
        statement_type: STATEMENT_V1,
        subject: vec![subject],
        predicate_type: predicate_type.to_owned(),
        predicate,
    };
    serde_json::to_vec(&statement)
        .map_err(|e| AttestError::InvalidInput(format!("serialising the statement: {e}")))
}

fn required(
    env: &dyn Env,
    name: &'static str,
    purpose: &'static str,
) -> Result<String, AttestError> {
    nonempty(env, name).ok_or(AttestError::MissingCiVariable { name, purpose })
}

// ---- GitHub Actions: Statement v1, SLSA provenance v1 ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlsaV1 {
    build_definition: BuildDefinition,
    run_details: RunDetails,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildDefinition {
    build_type: &'static str,
    external_parameters: ExternalParameters,
    internal_parameters: InternalParameters,
    resolved_dependencies: Vec<GitDependency<GitCommit>>,
}

#[derive(Serialize)]
struct ExternalParameters {
    workflow: Workflow,
}

#[derive(Serialize)]
struct Workflow {
    #[serde(rename = "ref")]
    reference: String,
    repository: String,
    path: String,
}

#[derive(Serialize)]
struct InternalParameters {
    github: GitHubParameters,
}

#[derive(Serialize)]
struct GitHubParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository_owner_id: Option<String>,
}

#[derive(Serialize)]
struct GitDependency<D> {
    uri: String,
    digest: D,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GitCommit {
    #[serde(skip_serializing_if = "Option::is_none")]
    git_commit: Option<String>,
}

#[derive(Serialize)]
struct RunDetails {
    builder: Builder,
    metadata: RunMetadata,
}

#[derive(Serialize)]
struct Builder {
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunMetadata {
    invocation_id: String,
}

pub fn github(
    subject: ResourceDescriptor,
    env: &dyn Env,
) -> Result<Statement<SlsaV1>, AttestError> {
    let server = required(env, "GITHUB_SERVER_URL", "the repository URL")?;
    let repository = required(env, "GITHUB_REPOSITORY", "the repository URL")?;
    let workflow_ref = required(env, "GITHUB_WORKFLOW_REF", "the workflow path and ref")?;
    let git_ref = required(env, "GITHUB_REF", "the source URI")?;
    let runner = required(env, "RUNNER_ENVIRONMENT", "the builder ID")?;
    let run_id = required(env, "GITHUB_RUN_ID", "the invocation ID")?;
    let attempt = required(env, "GITHUB_RUN_ATTEMPT", "the invocation ID")?;
    // "owner/repo/.github/workflows/x.yml@refs/heads/main": npm removes the first
    // "owner/repo/" and splits at the first '@'.
    let relative = workflow_ref.replacen(&format!("{repository}/"), "", 1);
    let (path, reference) = relative
        .split_once('@')
        .ok_or(AttestError::MissingCiVariable {
            name: "GITHUB_WORKFLOW_REF",
            purpose: "the workflow ref (it has no '@<ref>')",
        })?;
    let repository_url = format!("{server}/{repository}");
    Ok(Statement {
        statement_type: STATEMENT_V1,
        subject: vec![subject],
        predicate_type: SLSA_V1.to_owned(),
        predicate: SlsaV1 {
            build_definition: BuildDefinition {
                build_type: GITHUB_BUILD_TYPE,
                external_parameters: ExternalParameters {
                    workflow: Workflow {
                        reference: reference.to_owned(),
                        repository: repository_url.clone(),
                        path: path.to_owned(),
                    },
                },
                internal_parameters: InternalParameters {
                    github: GitHubParameters {
                        event_name: env.var("GITHUB_EVENT_NAME"),
                        repository_id: env.var("GITHUB_REPOSITORY_ID"),
                        repository_owner_id: env.var("GITHUB_REPOSITORY_OWNER_ID"),
                    },
                },
                resolved_dependencies: vec![GitDependency {
                    uri: format!("git+{repository_url}@{git_ref}"),
                    digest: GitCommit {
                        git_commit: env.var("GITHUB_SHA"),
                    },
                }],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: format!("{GITHUB_BUILDER_PREFIX}/{runner}"),
                },
                metadata: RunMetadata {
                    invocation_id: format!(
                        "{repository_url}/actions/runs/{run_id}/attempts/{attempt}"
                    ),
                },
            },
        },
    })
}

// ---- GitLab CI: Statement v0.1, SLSA provenance v0.2 ----

/// The CI variables npm records as `invocation.parameters`, in npm's order.
const GITLAB_PARAMETERS: &[&str] = &[
    "CI",
    "CI_API_GRAPHQL_URL",
    "CI_API_V4_URL",
    "CI_BUILD_BEFORE_SHA",
    "CI_BUILD_ID",
    "CI_BUILD_NAME",
    "CI_BUILD_REF",
    "CI_BUILD_REF_NAME",
    "CI_BUILD_REF_SLUG",
    "CI_BUILD_STAGE",
    "CI_COMMIT_BEFORE_SHA",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_REF_NAME",
    "CI_COMMIT_REF_PROTECTED",
    "CI_COMMIT_REF_SLUG",
    "CI_COMMIT_SHA",
    "CI_COMMIT_SHORT_SHA",
    "CI_COMMIT_TIMESTAMP",
    "CI_COMMIT_TITLE",
    "CI_CONFIG_PATH",
    "CI_DEFAULT_BRANCH",
    "CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX",
    "CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX",
    "CI_DEPENDENCY_PROXY_SERVER",
    "CI_DEPENDENCY_PROXY_USER",
    "CI_JOB_ID",
    "CI_JOB_NAME",
    "CI_JOB_NAME_SLUG",
    "CI_JOB_STAGE",
    "CI_JOB_STARTED_AT",
    "CI_JOB_URL",
    "CI_NODE_TOTAL",
    "CI_PAGES_DOMAIN",
    "CI_PAGES_URL",
    "CI_PIPELINE_CREATED_AT",
    "CI_PIPELINE_ID",
    "CI_PIPELINE_IID",
    "CI_PIPELINE_SOURCE",
    "CI_PIPELINE_URL",
    "CI_PROJECT_CLASSIFICATION_LABEL",
    "CI_PROJECT_DESCRIPTION",
    "CI_PROJECT_ID",
    "CI_PROJECT_NAME",
    "CI_PROJECT_NAMESPACE",
    "CI_PROJECT_NAMESPACE_ID",
    "CI_PROJECT_PATH",
    "CI_PROJECT_PATH_SLUG",
    "CI_PROJECT_REPOSITORY_LANGUAGES",
    "CI_PROJECT_ROOT_NAMESPACE",
    "CI_PROJECT_TITLE",
    "CI_PROJECT_URL",
    "CI_PROJECT_VISIBILITY",
    "CI_REGISTRY",
    "CI_REGISTRY_IMAGE",
    "CI_REGISTRY_USER",
    "CI_RUNNER_DESCRIPTION",
    "CI_RUNNER_ID",
    "CI_RUNNER_TAGS",
    "CI_SERVER_HOST",
    "CI_SERVER_NAME",
    "CI_SERVER_PORT",
    "CI_SERVER_PROTOCOL",
    "CI_SERVER_REVISION",
    "CI_SERVER_SHELL_SSH_HOST",
    "CI_SERVER_SHELL_SSH_PORT",
    "CI_SERVER_URL",
    "CI_SERVER_VERSION",
    "CI_SERVER_VERSION_MAJOR",
    "CI_SERVER_VERSION_MINOR",
    "CI_SERVER_VERSION_PATCH",
    "CI_TEMPLATE_REGISTRY_HOST",
    "GITLAB_CI",
    "GITLAB_FEATURES",
    "GITLAB_USER_ID",
    "GITLAB_USER_LOGIN",
    "RUNNER_GENERATE_ARTIFACTS_METADATA",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlsaV02 {
    build_type: &'static str,
    builder: Builder,
    invocation: Invocation,
    metadata: BuildMetadata,
    materials: Vec<GitDependency<Sha1>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    config_source: ConfigSource,
    parameters: OrderedVars,
    environment: GitLabEnvironment,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigSource {
    uri: String,
    digest: Sha1,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry_point: Option<String>,
}

#[derive(Serialize, Clone)]
struct Sha1 {
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
}

/// Set variables as a JSON object in list order; unset ones are left out.
struct OrderedVars(Vec<(&'static str, String)>);

impl Serialize for OrderedVars {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct GitLabEnvironment {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<String>,
    job: IdOnly,
    pipeline: Pipeline,
}

#[derive(Serialize)]
struct IdOnly {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

#[derive(Serialize)]
struct Pipeline {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildMetadata {
    build_invocation_id: String,
    completeness: Completeness,
    reproducible: bool,
}

#[derive(Serialize)]
struct Completeness {
    parameters: bool,
    environment: bool,
    materials: bool,
}

pub fn gitlab(
    subject: ResourceDescriptor,
    env: &dyn Env,
) -> Result<Statement<SlsaV02>, AttestError> {
    let project_url = required(env, "CI_PROJECT_URL", "the builder ID and source URI")?;
    let runner_id = required(env, "CI_RUNNER_ID", "the builder ID")?;
    let job_url = required(env, "CI_JOB_URL", "the build invocation ID")?;
    let commit = Sha1 {
        sha1: env.var("CI_COMMIT_SHA"),
    };
    let source_uri = format!("git+{project_url}");
    let parameters = GITLAB_PARAMETERS
        .iter()
        .filter_map(|name| env.var(name).map(|value| (*name, value)))
        .collect();
    Ok(Statement {
        statement_type: STATEMENT_V01,
        subject: vec![subject],
        predicate_type: SLSA_V02.to_owned(),
        predicate: SlsaV02 {
            build_type: GITLAB_BUILD_TYPE,
            builder: Builder {
                id: format!("{project_url}/-/runners/{runner_id}"),
            },
            invocation: Invocation {
                config_source: ConfigSource {
                    uri: source_uri.clone(),
                    digest: commit.clone(),
                    entry_point: env.var("CI_JOB_NAME"),
                },
                parameters: OrderedVars(parameters),
                environment: GitLabEnvironment {
                    name: env.var("CI_RUNNER_DESCRIPTION"),
                    architecture: env.var("CI_RUNNER_EXECUTABLE_ARCH"),
                    server: env.var("CI_SERVER_URL"),
                    project: env.var("CI_PROJECT_PATH"),
                    job: IdOnly {
                        id: env.var("CI_JOB_ID"),
                    },
                    pipeline: Pipeline {
                        id: env.var("CI_PIPELINE_ID"),
                        reference: env.var("CI_CONFIG_PATH"),
                    },
                },
            },
            metadata: BuildMetadata {
                build_invocation_id: job_url,
                completeness: Completeness {
                    parameters: true,
                    environment: true,
                    materials: false,
                },
                reproducible: false,
            },
            materials: vec![GitDependency {
                uri: source_uri,
                digest: commit,
            }],
        },
    })
}

#[cfg(test)]
mod tests;
