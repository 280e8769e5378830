//! `agentry-operator` (being assembled).

fn main() {}
