//! Errors.

use std::fmt;

/// Errors of the matching engine.
#[derive(Debug)]
pub enum Error {
    /// Invalid configuration.
    Config(String),
    /// CSV reading or writing failed.
    Csv(csv::Error),
    /// I/O failed.
    Io(std::io::Error),
    /// Input data is unusable (missing column, …).
    Data(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(s) => write!(f, "configuration error: {s}"),
            Error::Csv(e) => write!(f, "csv error: {e}"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::Data(s) => write!(f, "data error: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Csv(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<csv::Error> for Error {
    fn from(e: csv::Error) -> Self {
        Error::Csv(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
