//! The `mailstage` binary: parse the command line, run the library, map the result
//! to a documented exit code (0 ok, 1 finished with quarantined or failed messages,
//! 2 fatal).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Convert(args) => cli::convert(args),
        cli::Command::Check(args) => cli::check(args),
        cli::Command::Upload(args) => cli::upload(args),
        cli::Command::Verify(args) => cli::verify(args),
        cli::Command::Rollback(args) => cli::rollback(args),
        cli::Command::Zip(args) => cli::zip(args),
        cli::Command::Quarantine(args) => cli::quarantine(args),
        cli::Command::Report(args) => cli::report(args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(2)),
        Err(e) => {
            eprintln!("mailstage: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
