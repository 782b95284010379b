//! `/api/auth/*` as a client sees it, one file per area: every row of the contract's auth
//! table, the cookies' exact attributes, the bad inputs, the attacks on the JWT and the refresh
//! token, the cross-site checks, and the limits on guessing. (The devices endpoints are in
//! `sessions.rs`.)

mod limits;
mod login;
mod origin;
mod refresh;
mod register;
mod tokens;
