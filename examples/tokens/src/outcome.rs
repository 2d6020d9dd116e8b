//! How a command ends: its exit status and the message it leaves.
//!
//! | status | meaning |
//! | --- | --- |
//! | 0 | done; for `decode`, `verify` and `explain`: the token was accepted |
//! | 1 | the token was refused (`error[code]: message`, PyJWT's wording) |
//! | 2 | usage or input error: a bad flag (clap's own message), an unreadable, weak or wrong key, a verifier setting refused |

use std::process::ExitCode;

use authz_axum::{Error, ErrorKind};
use serde_json::json;

/// The exit status of a refused token.
pub(crate) const REFUSED: u8 = 1;
/// The exit status of a usage or input error (clap exits with it too).
pub(crate) const INPUT: u8 = 2;

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The verifier refused the token.
    Refused(Error),
    /// A token was refused and the command already printed why (`explain`).
    Reported,
    /// The input could not be used: a file, a key, a flag's value, a setting.
    Input(String),
}

impl Failure {
    /// An input error with this message.
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::Input(message.into())
    }

    /// Prints the failure (refusals on standard output as JSON with `--json`, for scripts;
    /// everything else on standard error) and returns its exit status.
    pub(crate) fn report(self, json: bool) -> ExitCode {
        match self {
            Self::Refused(err) if json => {
                println!(
                    "{}",
                    json!({"valid": false, "code": err.code(), "message": err.message()})
                );
                ExitCode::from(REFUSED)
            }
            Self::Refused(err) => {
                eprintln!("error[{}]: {err}", err.code());
                ExitCode::from(REFUSED)
            }
            Self::Reported => ExitCode::from(REFUSED),
            Self::Input(message) => {
                eprintln!("authz: {message}");
                ExitCode::from(INPUT)
            }
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Refused(err)
    }
}

impl From<ErrorKind> for Failure {
    fn from(kind: ErrorKind) -> Self {
        Self::Refused(kind.into())
    }
}
