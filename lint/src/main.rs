use std::io::{self, ErrorKind};
use std::process::ExitCode;

use clap::Parser;
use ctxlint::cli::{self, Cli, Outcome};
use ctxlint::Error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = io::stdout().lock();
    match cli::run(cli, &mut stdout) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        // `ctxlint check | head` closing the pipe early is not an error.
        Err(Error::Output(error)) if error.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ctxlint: error: {error}");
            ExitCode::from(2)
        }
    }
}
