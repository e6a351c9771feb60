use std::process::ExitCode;

fn main() -> ExitCode {
    kdns::cli::main()
}
