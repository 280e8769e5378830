//! `kubectl-agentry`: the same program as `agentry`, found by kubectl as the plugin `kubectl agentry`.

fn main() -> std::process::ExitCode {
    agentry_cli::main()
}
