//! The Model controller: a Model is `Ready` when its API-key Secret holds the key.

pub mod controller;
pub mod key_check;
