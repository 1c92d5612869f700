//! `tansiq`: the command-line client of a Tansiq node.

#[macro_use]
mod output;
mod args;
mod client;
mod cluster;
mod commands;
mod coverage;
mod export;
mod import;
mod list;
mod mirror;
mod signer;
mod tree;
mod verify;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = args::Cli::parse();
    client::configure(client::TlsOptions {
        ca: args.ca.clone(),
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", client::describe(&error));
            std::process::ExitCode::FAILURE
        }
    }
}
