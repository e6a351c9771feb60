//! Running the node's network tools (`ip`, `iptables`, `ip6tables`), as node-cache does;
//! their failures as typed errors naming the command line and what it printed.
use std::process::Command;

/// A network tool that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    #[error("cannot run {program}: {source} (the node-local role needs iproute2 and iptables in its image)")]
    Missing {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{line}` failed (exit status {status}): {output}")]
    Failed {
        line: String,
        status: i32,
        output: String,
    },
}

/// What a tool said: its exit status and its output (stdout, then stderr).
pub(crate) struct Ran {
    pub(crate) status: i32,
    pub(crate) output: String,
}

/// Runs `program args`; an error only when it cannot run at all.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<Ran, ToolError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| ToolError::Missing {
            program: program.into(),
            source,
        })?;
    Ok(Ran {
        status: out.status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_string(),
    })
}

/// Runs `program args`, which must succeed; returns its output.
pub(crate) fn must(program: &str, args: &[&str]) -> Result<String, ToolError> {
    let ran = run(program, args)?;
    if ran.status == 0 {
        Ok(ran.output)
    } else {
        Err(failed(program, args, ran))
    }
}

/// The error for a run that did not succeed.
pub(crate) fn failed(program: &str, args: &[&str], ran: Ran) -> ToolError {
    ToolError::Failed {
        line: std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" "),
        status: ran.status,
        output: ran.output,
    }
}
