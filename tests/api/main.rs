//! Integration tests: the real server on a random port, a fresh database per
//! test, emails read back from the transport, links clicked as a person would.
//!
//! The suite runs on SQLite always, and once more on PostgreSQL when
//! `TWOYES_TEST_DATABASE_URL` names a server (see `build.rs`). The same
//! test files are compiled once per backend, on purpose.
#![allow(clippy::duplicate_mod)]

mod sqlite;

#[cfg(twoyes_pg)]
mod postgres;
