//! Structured logs on stderr, as text for people or JSON for collectors.
//!
//! Log lines carry values a client chose (token claims, SANs, reasons quoting them). In the
//! text format every field value and message is written with control characters escaped, so a
//! claim holding a newline and a forged log line stays on its line, visibly escaped, whatever
//! the call site formatted it with. The JSON format escapes by construction.

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, FormatFields, Writer};

/// Installs the process-wide subscriber: `json` or text, filtered by `MAYFLY_LOG` (an
/// `EnvFilter` directive such as `debug` or `mayfly=debug,sqlx=warn`), else `default`.
pub fn init(json: bool, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAYFLY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for people: files, pipes and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.fmt_fields(escaped_fields()).init();
    }
}

/// The text format's field formatter: `name=value` pairs separated by spaces, the message
/// bare, every value with control characters escaped.
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(|writer: &mut Writer<'_>, field, value| {
        let text = format!("{value:?}");
        if field.name() == "message" {
            write_escaped(writer, &text)
        } else {
            write!(writer, "{field}=")?;
            write_escaped(writer, &text)
        }
    })
    .delimited(" ")
}

fn write_escaped(writer: &mut Writer<'_>, text: &str) -> std::fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(writer, "{}", c.escape_default())?;
        } else {
            writer.write_char(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn newlines_and_escapes_in_values_stay_on_one_line() {
        let hostile =
            "repo:o/r\n2026-12-06T00:00:00Z  INFO mayfly: issued certificate admin\x1b[31m";
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(escaped_fields())
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(subject = %hostile, "issued certificate");
            tracing::warn!(reason = ?hostile, "identity rejected");
            tracing::error!("refused {hostile}");
            tracing::info!(log_index = 7, issuer = %"https://iss.example", "plain");
        });
        let written = lines.lock().unwrap().concat();
        assert_eq!(written.lines().count(), 4, "{written}");
        assert!(
            written.contains("plain log_index=7 issuer=https://iss.example"),
            "{written}"
        );
        assert!(written.contains(r"repo:o/r\n2026"), "{written}");
        assert!(written.contains(r"\u{1b}[31m"), "{written}");
        assert!(!written.contains('\x1b'));
    }

    struct Sink(Arc<Mutex<Vec<String>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(bytes).into_owned());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
