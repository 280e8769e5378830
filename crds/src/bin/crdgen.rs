//! Prints the Agentry CRDs, or writes them where the kustomize bases and the Helm chart read them.
//!
//! `crdgen` prints every CRD as one YAML stream; `crdgen --write DIR...` writes one file per CRD
//! into each DIR.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let files = match agentry_crds::crds_yaml() {
        Ok(files) => files,
        Err(err) => {
            eprintln!("crdgen: cannot render the CRDs as YAML: {err}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        None => {
            for (_, yaml) in &files {
                print!("---\n{yaml}");
            }
            ExitCode::SUCCESS
        }
        Some((flag, dirs)) if flag == "--write" && !dirs.is_empty() => {
            for dir in dirs.iter().map(PathBuf::from) {
                for (name, yaml) in &files {
                    let path = dir.join(name);
                    if let Err(err) = std::fs::write(&path, yaml) {
                        eprintln!("crdgen: cannot write {}: {err}", path.display());
                        return ExitCode::FAILURE;
                    }
                    println!("wrote {}", path.display());
                }
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: crdgen            print every CRD as YAML\n       crdgen --write DIR...  write one file per CRD into each DIR"
            );
            ExitCode::from(2)
        }
    }
}
