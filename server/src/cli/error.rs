//! What a client command can fail with, and the exit code each failure gives scripts.

use app::domain::validation::FieldError;

/// The exit codes of the client subcommands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Usage or input: a bad flag, an unreadable or invalid file, a 400 from the server.
    Usage = 1,
    /// Not found (404): no such scheduler, room, operation or claim.
    NotFound = 2,
    /// Conflict (409): the name is taken, an operation is running, no room is free.
    Conflict = 3,
    /// Authentication or permission (401, 403, 429), or no password to send.
    Auth = 4,
    /// The server failed (5xx) or could not be reached.
    Server = 5,
    /// A followed operation ended without finishing (error, canceled, evicted) or the wait
    /// timed out.
    OperationFailed = 6,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Input(String),
    /// A file the client checked itself, with the fields at fault.
    #[error("{message}")]
    Invalid {
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Auth(String),
    /// The server answered an error: its status, code, message and the fields at fault.
    #[error("{message} ({status} {code})")]
    Server {
        status: u16,
        code: String,
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("cannot reach {url}: {detail}")]
    Connection { url: String, detail: String },
    #[error("{0}")]
    OperationFailed(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Input(_) | Self::Invalid { .. } => ExitCode::Usage,
            Self::NotFound(_) => ExitCode::NotFound,
            Self::Auth(_) => ExitCode::Auth,
            Self::Connection { .. } => ExitCode::Server,
            Self::OperationFailed(_) => ExitCode::OperationFailed,
            Self::Server { status, .. } => match status {
                400 | 413 | 415 | 422 => ExitCode::Usage,
                401 | 403 | 429 => ExitCode::Auth,
                404 => ExitCode::NotFound,
                409 => ExitCode::Conflict,
                _ => ExitCode::Server,
            },
        }
    }

    /// `error: MESSAGE` on stderr, then one line per field the server found at fault.
    pub fn print(&self) {
        eprintln!("error: {self}");
        if let Self::Server { errors, .. } | Self::Invalid { errors, .. } = self
            && errors.len() > 1
        {
            for error in errors {
                eprintln!("  {}: {}", error.field, error.message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16) -> CliError {
        CliError::Server {
            status,
            code: String::new(),
            message: String::new(),
            errors: Vec::new(),
        }
    }

    #[test]
    fn statuses_map_to_documented_exit_codes() {
        assert_eq!(server(400).exit_code(), ExitCode::Usage);
        assert_eq!(server(401).exit_code(), ExitCode::Auth);
        assert_eq!(server(403).exit_code(), ExitCode::Auth);
        assert_eq!(server(404).exit_code(), ExitCode::NotFound);
        assert_eq!(server(409).exit_code(), ExitCode::Conflict);
        assert_eq!(server(500).exit_code(), ExitCode::Server);
        assert_eq!(ExitCode::OperationFailed as u8, 6);
    }
}
