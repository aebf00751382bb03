//! Request bodies for a generic HTTP load tool, so that `mayfly bench`'s own numbers can be
//! checked by a client Mayfly did not write (`wrk`, with the script written beside them).
//! The bodies are what `bench issue` and `bench rekor` send: certificate requests with a
//! day-long dev-issuer token, and distinct dsse entries signed under a real certificate.

use super::harness::{BenchError, BenchServer};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Options {
    /// The Mayfly (with `--dev-issuer`) the bodies are made for.
    pub url: String,
    pub out: PathBuf,
    /// Distinct dsse entries: a load tool that sends one twice gets 409 for the second.
    pub entries: usize,
}

const WRK_SCRIPT: &str = include_str!("wrk.lua");

pub async fn run(options: Options) -> Result<(), BenchError> {
    let server = BenchServer::start_or_connect(Some(&options.url)).await?;
    std::fs::create_dir_all(&options.out).map_err(|e| cannot_write(&options.out, e))?;
    let issue = super::issue::prepare_requests(&server, &server.url).await?;
    write_lines(&options.out.join("issue.jsonl"), &issue)?;
    let signer = super::rekor::certified_signer(&server).await?;
    let run_id: u64 = rand::random();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let entries = signer.prebuild(run_id, 0, options.entries, cores);
    if entries.len() != options.entries {
        return Err(BenchError::Check(format!(
            "built {} of {} entries",
            entries.len(),
            options.entries
        )));
    }
    write_lines(&options.out.join("dsse.jsonl"), &entries)?;
    let script = options.out.join("post.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(|e| cannot_write(&script, e))?;
    let dir = options.out.display();
    println!(
        "wrote {} certificate requests and {} dsse entries to {dir}; for example:",
        issue.len(),
        entries.len()
    );
    println!(
        "  wrk -t2 -c256 -d10s -s {dir}/post.lua {}/api/v2/signingCert -- {dir}/issue.jsonl 200",
        server.url
    );
    println!(
        "  wrk -t2 -c256 -d10s -s {dir}/post.lua {}/api/v1/log/entries -- {dir}/dsse.jsonl 201",
        server.url
    );
    Ok(())
}

/// One body per line: JSON bodies have no raw newlines.
fn write_lines(path: &Path, bodies: &[bytes::Bytes]) -> Result<(), BenchError> {
    let write = || -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for body in bodies {
            file.write_all(body)?;
            file.write_all(b"\n")?;
        }
        file.flush()
    };
    write().map_err(|e| cannot_write(path, e))
}

fn cannot_write(path: &Path, e: std::io::Error) -> BenchError {
    BenchError::Check(format!("cannot write {}: {e}", path.display()))
}
