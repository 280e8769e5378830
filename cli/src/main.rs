//! `agentry`: ask agents, follow sessions and tasks, read history and cost through the Agentry API.

fn main() -> std::process::ExitCode {
    agentry_cli::main()
}
