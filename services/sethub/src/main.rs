//! The `sethub` binary: runs one service, all three in one process, migrations, or an admin
//! command. `main` only wires; the work lives in the library crates.

mod admin_cli;
mod cli;
mod run;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The one crypto provider in the tree; reqwest and lapin's rustls need it installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sethub: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the problem, never a backtrace.
            eprintln!("sethub: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
