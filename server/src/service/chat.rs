//! Chat turns with the assistant. (The agent engineer replaces this file with the real
//! generation loop; the socket calls only `send` and `cancel`.)

use protocol::ErrorCode;

use crate::error::{Error, Result};

#[derive(Clone, Default)]
pub struct Chat {}

impl Chat {
    /// Starts a turn; returns the conversation id.
    pub async fn send(
        &self,
        _user_id: i64,
        _conversation_id: Option<i64>,
        _text: &str,
    ) -> Result<i64> {
        Err(Error::api(
            ErrorCode::Unavailable,
            "the assistant is not available yet",
        ))
    }

    /// Stops a running turn.
    pub async fn cancel(&self, _user_id: i64, _conversation_id: i64) -> Result<()> {
        Err(Error::api(
            ErrorCode::Unavailable,
            "the assistant is not available yet",
        ))
    }
}
