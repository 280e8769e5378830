//! Writes the operator's RBAC manifests to `config/rbac/role.yaml` (or prints them).
//!
//! `rbacgen [--secret-namespaces a,b] [path]`: Secrets are readable only in the namespaces
//! listed (the operator's `--secret-namespaces`); without the flag, in the samples' namespace;
//! with an empty list, cluster-wide.

use std::process::ExitCode;

use agentry_operator::rbac::SAMPLE_SECRET_NAMESPACES;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut secret_namespaces: Option<String> = None;
    while let Some(arg) = args.next() {
        if arg == "--secret-namespaces" {
            match args.next() {
                Some(list) => secret_namespaces = Some(list),
                None => {
                    eprintln!("rbacgen: --secret-namespaces needs a comma-separated list of namespaces");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            path = Some(arg);
        }
    }
    let listed: Vec<&str> = match &secret_namespaces {
        Some(list) => list.split(',').map(str::trim).filter(|n| !n.is_empty()).collect(),
        None => SAMPLE_SECRET_NAMESPACES.to_vec(),
    };
    let yaml = match agentry_operator::rbac::manifests_yaml("agentry-system", &listed) {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("rbacgen: cannot render the RBAC manifests: {err}");
            return ExitCode::FAILURE;
        }
    };
    match path {
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
