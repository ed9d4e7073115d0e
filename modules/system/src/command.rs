//! Running a host command (systemctl, journalctl) with a time limit.

use std::fmt;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished command printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub stdout: String,
    pub stderr: String,
}

/// A command that could not run, failed or timed out. Carries everything a user needs to
/// see why: the command, its exit code and stderr, and (for a unit) its last journal lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandError {
    pub argv: Vec<String>,
    /// The exit code; `None` when it did not start, was killed or timed out.
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Set when the command was killed after the time limit.
    pub timed_out: bool,
    /// Set when the command could not be started at all.
    pub spawn_error: Option<String>,
    /// The systemd units the command was about.
    pub units: Vec<String>,
    /// `journalctl -u UNIT -n 20` of those units, when the caller fetched it.
    pub journal: String,
}

impl CommandError {
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    /// This error as a module failure: "`what`: error", with the command line, exit code,
    /// stderr and the unit's journal lines as result keys.
    pub fn to_failure(&self, what: impl fmt::Display) -> module_runtime::Failure {
        let mut failure = module_runtime::Failure::new(format!("{what}: {self}"))
            .with("cmd", self.command_line());
        if let Some(rc) = self.rc {
            failure = failure.with("rc", rc);
        }
        if !self.stderr.trim().is_empty() {
            failure = failure.with("stderr", self.stderr.trim());
        }
        if !self.journal.is_empty() {
            failure = failure.with("journal", non_empty_lines(&self.journal));
        }
        failure
    }
}

/// The lines of a command's output that say something.
pub fn non_empty_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cmd = self.command_line();
        if let Some(e) = &self.spawn_error {
            return write!(f, "cannot run `{cmd}`: {e}");
        }
        if self.timed_out {
            write!(f, "`{cmd}` did not finish in time and was killed")?;
        } else {
            match self.rc {
                Some(rc) => write!(f, "`{cmd}` failed (rc={rc})")?,
                None => write!(f, "`{cmd}` was killed by a signal")?,
            }
        }
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            write!(f, ": {stderr}")?;
        }
        Ok(())
    }
}

/// Runs `argv` with stdin closed, waits at most `timeout`, returns its output when it
/// exits 0. The child's output is read by two short-lived threads that are joined before
/// returning, so the process is single-threaded again afterwards (see [`crate::access`]).
pub fn run(argv: &[&str], timeout: Duration) -> Result<CommandOutput, Box<CommandError>> {
    let failure = |rc, stdout: String, stderr: String, timed_out, spawn_error| {
        Box::new(CommandError {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            rc,
            stdout,
            stderr,
            timed_out,
            spawn_error,
            ..CommandError::default()
        })
    };
    let (program, args) = argv.split_first().ok_or_else(|| {
        failure(
            None,
            String::new(),
            String::new(),
            false,
            Some("empty command".into()),
        )
    })?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Untranslated messages: they are matched by tests and pasted into issues.
        .env("LC_ALL", "C")
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .spawn()
        .map_err(|e| {
            failure(
                None,
                String::new(),
                String::new(),
                false,
                Some(e.to_string()),
            )
        })?;
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break child.wait().ok(),
        }
    };
    let collect = |handle: Option<std::thread::JoinHandle<String>>| {
        handle.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match status {
        Some(status) if status.success() && !timed_out => Ok(CommandOutput { stdout, stderr }),
        status => Err(failure(
            status.and_then(|s| s.code()),
            stdout,
            stderr,
            timed_out,
            None,
        )),
    }
}

fn reader<R: Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_of_a_successful_command() {
        let out = run(
            &["/bin/sh", "-c", "echo out; echo err >&2"],
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn failure_carries_rc_and_stderr() {
        let err = run(
            &["/bin/sh", "-c", "echo broken >&2; exit 3"],
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert_eq!(err.rc, Some(3));
        assert_eq!(
            err.to_string(),
            "`/bin/sh -c echo broken >&2; exit 3` failed (rc=3): broken"
        );
    }

    #[test]
    fn timeout_kills() {
        let started = Instant::now();
        let err = run(&["/bin/sleep", "5"], Duration::from_millis(200)).unwrap_err();
        assert!(err.timed_out);
        assert!(started.elapsed() < Duration::from_secs(4));
        assert!(err.to_string().contains("did not finish in time"), "{err}");
    }

    #[test]
    fn missing_program() {
        let err = run(&["/nonexistent/prog"], Duration::from_secs(1)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot run `/nonexistent/prog`: "));
    }
}
