//! Writes the operator's RBAC manifests to `config/rbac/role.yaml` (or prints them).

use std::process::ExitCode;

fn main() -> ExitCode {
    let yaml = match agentry_operator::rbac::manifests_yaml("agentry-system") {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("rbacgen: cannot render the RBAC manifests: {err}");
            return ExitCode::FAILURE;
        }
    };
    match std::env::args().nth(1) {
        None => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(&path, yaml) {
            Ok(()) => {
                println!("wrote {path}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("rbacgen: cannot write {path}: {err}");
                ExitCode::FAILURE
            }
        },
    }
}
