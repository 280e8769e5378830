//! Model providers, retries, circuit breakers and the fallback chain.

pub mod anthropic;
mod anthropic_stream;
pub mod chat;
pub mod circuit_breaker;
pub mod error;
pub mod model_chain;
pub mod openai;
mod openai_stream;
pub mod retry;
mod sse_lines;
mod stream_reader;
pub mod token_sink;
mod transport;

pub use circuit_breaker::CircuitState;
pub use error::{ApiKey, ConfigError, ModelError};
pub use model_chain::{ChainAnswer, ChainError, ModelCallRecord, ModelChain};
pub use token_sink::TokenSink;

/// Makes ring rustls's process-wide crypto provider, which reqwest (built without one of its own)
/// needs before any client is created. Calling it again, or after someone else installed a
/// provider, is harmless.
pub fn install_crypto_provider() {
    // An error only says a provider is already installed, which is all we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
